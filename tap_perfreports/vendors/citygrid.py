"""CityGrid Ad Performance API: daily metrics per publisher code, by preset date range only.

The API takes no dates, only a `report_time` preset (`yesterday`, `last7Days`, ...)
computed by CityGrid from its current reporting day. A reporting day runs from 9 p.m. to
9 p.m. Pacific time and is named after the date on which it ends: reporting day D covers
D-1 21:00 .. D 21:00 America/Los_Angeles, and is complete at D 21:00 Pacific (daylight
saving included; the instant 21:00:00 already belongs to D+1).

Each run picks the fewest presets (then the fewest days) that cover the days it needs,
keeps only those days, and checks the response's own `from`/`to` rather than trusting
this module's calendar. Each `view_type` has its own metrics, so each is its own stream.

The tap's clock is `dt.datetime.now`, except in sandbox mode, where the environment
variable `TAP_PERFREPORTS_SANDBOX_NOW` (an ISO date-time with offset) freezes it; the
emulator honours the same variable, so tests freeze both sides.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import typing as t
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import msgspec
from singer_sdk import typing as th

from tap_perfreports import clock
from tap_perfreports.casting import Cast, to_date, to_int, to_number
from tap_perfreports.errors import ConfigError, ParseError, RequestFailed, reading
from tap_perfreports.http import HttpClient, VendorErrors
from tap_perfreports.reconcile import Rule, ratio_rule, sum_rule
from tap_perfreports.streams import ReportStream
from tap_perfreports.vendor import Vendor, VendorConfig
from tap_perfreports.windows import ONE_DAY, Window, resume_from

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Stream, Tap

    from tap_perfreports.fetch_ahead import Request
    from tap_perfreports.run_state import RunState

API_URL = "http://api.citygridmedia.com"
REPORT_PATH = "/ads/performance/v2/daily"
PACIFIC = ZoneInfo("America/Los_Angeles")
REPORTING_DAY_ENDS = dt.time(21)
#: The `placement` column when no placement is configured: every placement, merged.
ALL_PLACEMENTS = "all"
#: Read only in sandbox mode: freezes the tap's clock (ISO date-time with offset).
MEDIA_TYPES = {"json": "application/json", "csv": "application/csv"}

# Reporting days


def reporting_today(now: dt.datetime) -> dt.date:
    """The reporting day in progress at `now`: after 21:00 Pacific it is tomorrow's date."""
    local = now.astimezone(PACIFIC)
    return local.date() + ONE_DAY if local.time() >= REPORTING_DAY_ENDS else local.date()


def earliest_day(now: dt.datetime, settings: t.Mapping[str, t.Any]) -> dt.date:
    """The oldest day any report_time preset still covers."""
    today = reporting_today(now)
    return min(preset_range(preset, today).start for preset in PRESETS)


def latest_complete_day(now: dt.datetime, settings: t.Mapping[str, t.Any] | None = None) -> dt.date:
    """CityGrid's `yesterday`: the last reporting day whose 21:00 Pacific has passed."""
    return reporting_today(now) - ONE_DAY


# Presets

PRESETS = (
    "yesterday",
    "last7Days",
    "last14Days",
    "last30Days",
    "lastWeek",
    "lastBusinessWeek",
    "thisMonth",
    "lastMonth",
    "last3Months",
    "thisQuarter",
    "lastQuarter",
)
#: Presets that run up to the reporting day in progress, whose last day is partial.
PRESETS_UP_TO_TODAY = frozenset({"thisMonth", "thisQuarter"})


def _month_start(day: dt.date, months_back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def preset_range(preset: str, today: dt.date) -> Window:
    """The reporting days CityGrid reports for `preset` while `today` is in progress.

    Assumptions (the docs define only the names): weeks run Sunday..Saturday and
    `lastWeek` is the last one before today's week; `lastBusinessWeek` is that week's
    Monday..Friday; `last3Months` is the three calendar months before today's month;
    `thisMonth`/`thisQuarter` run up to today, whose partial day the tap never keeps
    (were they to end yesterday instead, the tap would stop a day short and warn).
    """
    yesterday = today - ONE_DAY
    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # Sunday
    ranges = {
        "yesterday": lambda: Window(yesterday, yesterday),
        "last7Days": lambda: Window(today - dt.timedelta(days=7), yesterday),
        "last14Days": lambda: Window(today - dt.timedelta(days=14), yesterday),
        "last30Days": lambda: Window(today - dt.timedelta(days=30), yesterday),
        "lastWeek": lambda: Window(week_start - dt.timedelta(days=7), week_start - ONE_DAY),
        "lastBusinessWeek": lambda: Window(
            week_start - dt.timedelta(days=6), week_start - dt.timedelta(days=2)
        ),
        "thisMonth": lambda: Window(_month_start(today), today),
        "lastMonth": lambda: Window(_month_start(today, 1), _month_start(today) - ONE_DAY),
        "last3Months": lambda: Window(_month_start(today, 3), _month_start(today) - ONE_DAY),
        "thisQuarter": lambda: Window(_quarter_start(today), today),
        "lastQuarter": lambda: Window(
            _quarter_start(_quarter_start(today) - ONE_DAY), _quarter_start(today) - ONE_DAY
        ),
    }
    if preset not in ranges:
        raise ValueError(f"unknown report_time preset {preset!r}")
    return ranges[preset]()


@dataclass(frozen=True)
class PresetRequest:
    """One request: a preset, and the days of its report this run keeps."""

    preset: str
    keep: Window
    #: The days the preset reports, by the tap's calendar (`preset_range`).
    span: Window


@dataclass(frozen=True)
class PresetPlan:
    requests: tuple[PresetRequest, ...] = ()
    #: Needed days that no preset reaches any more: lost for good.
    unreachable: tuple[Window, ...] = ()


def _days(window: Window) -> set[dt.date]:
    return {window.start + dt.timedelta(days=n) for n in range(window.days)}


def _runs(days: Iterable[dt.date]) -> tuple[Window, ...]:
    """Consecutive days grouped into windows, oldest first."""
    runs: list[Window] = []
    for day in sorted(days):
        if runs and runs[-1].end + ONE_DAY == day:
            runs[-1] = Window(runs[-1].start, day)
        else:
            runs.append(Window(day, day))
    return tuple(runs)


@lru_cache(maxsize=256)  # every partition starting on the same day: one plan
def choose_presets(start: dt.date, end: dt.date, today: dt.date) -> PresetPlan:
    """The fewest presets (then the fewest days requested) covering `start..end`.

    Only complete days count: `end` is capped at yesterday. Days no preset reaches are
    returned as `unreachable`. Requests come oldest first, each keeping the days not
    kept by an earlier one, so every day is emitted once and bookmarks only move forward.
    """
    end = min(end, today - ONE_DAY)
    if start > end:
        return PresetPlan()
    needed = _days(Window(start, end))
    ranges = {preset: preset_range(preset, today) for preset in PRESETS}
    useful = {p: needed & _days(ranges[p]) for p in PRESETS}
    useful = {p: days for p, days in useful.items() if days}
    reachable = set().union(*useful.values())
    unreachable = _runs(needed - reachable)
    if not reachable:
        return PresetPlan(unreachable=unreachable)
    chosen: tuple[str, ...] = ()
    for size in range(1, len(useful) + 1):
        covering = [
            combo
            for combo in itertools.combinations(useful, size)
            if len(set().union(*(useful[p] for p in combo))) == len(reachable)
        ]
        if covering:
            chosen = min(covering, key=lambda combo: sum(ranges[p].days for p in combo))
            break
    requests = []
    cursor = start
    for preset in sorted(chosen, key=lambda p: (ranges[p].start, ranges[p].end)):
        keep = Window(max(cursor, ranges[preset].start), min(end, ranges[preset].end))
        if keep.start <= keep.end:
            requests.append(PresetRequest(preset, keep, ranges[preset]))
            cursor = keep.end + ONE_DAY
    return PresetPlan(tuple(requests), unreachable)


class CalendarMismatch(ParseError):
    """A report covers other days than the tap expects for its preset."""


class ReportingDayLags(CalendarMismatch):
    """The report is the preset as of the reporting day before the tap's: CityGrid's day
    had not turned yet (a run at 9 p.m. Pacific, or this machine's clock is ahead)."""


# View types and parsing


@dataclass(frozen=True)
class ViewType:
    """One `view_type`: its stream and exactly the metrics the docs list for it."""

    api_name: str
    stream: str
    metrics: tuple[str, ...]
    #: How each stated total (`total_*`, the CSV's `Total:` line) follows from the rows.
    rules: tuple[Rule, ...] = ()

    def schema(self) -> dict:
        properties: dict[str, dict] = {
            "publisher_code": {"type": ["string"]},
            "placement": {"type": ["string"]},
            "date": {"type": ["string"], "format": "date"},
        }
        for metric in self.metrics:
            properties[metric] = {"type": [METRIC_TYPES[metric], "null"]}
        return {"type": "object", "properties": properties}

    @cached_property
    def casts(self) -> dict[str, Cast]:
        return {m: to_int if METRIC_TYPES[m] == "integer" else to_number for m in self.metrics}

    @cached_property
    def columns(self) -> frozenset[str]:
        return frozenset(("date", *self.metrics))


METRIC_TYPES = {
    "billable_connections": "integer",
    "impressions": "integer",
    "bidded_impressions": "integer",
    "billable_clicks": "integer",
    "revenue": "number",
    "rpm": "number",
    "ctr": "number",
    "cpc": "number",
    "coverage": "number",
    "ltc": "integer",
    "ltc_revenue": "number",
}

#: Totals of the summable metrics, in every view: counts exact, dollars to the cent.
SUMMED = {
    "billable_connections": sum_rule("billable_connections"),
    "impressions": sum_rule("impressions"),
    "bidded_impressions": sum_rule("bidded_impressions"),
    "billable_clicks": sum_rule("billable_clicks"),
    "revenue": sum_rule("revenue", decimals=2),
    "ltc": sum_rule("ltc"),
    "ltc_revenue": sum_rule("ltc_revenue", decimals=2),
}
#: Rates, each the documented ratio of summed counts (2 decimals). The doc's examples
#: bear these out (overall total_cpc 212.25 / 99 = 2.14; ads total_rpm 21.5 / 20 * 1000,
#: total_ctr 10 / 20 * 100, total_coverage 20 / 56 * 100 = 35.71). Not checked: the ads
#: view's total_cpc (the doc's 50.0 is no ratio of its counts: revenue / clicks is 2.15)
#: and placesThatPay's rpm (its rows' rpm follow from no column they carry).
RATES = {
    "overall": (ratio_rule("cpc", "revenue", "billable_connections", numerator_decimals=2),),
    "ads": (
        ratio_rule("rpm", "revenue", "bidded_impressions", scale=1000, numerator_decimals=2),
        ratio_rule("ctr", "billable_clicks", "bidded_impressions", scale=100),
        ratio_rule("coverage", "bidded_impressions", "impressions", scale=100),
    ),
    "placesThatPay": (),
}


def _view(api_name: str, stream: str, metrics: tuple[str, ...]) -> ViewType:
    rules = tuple(SUMMED[m] for m in metrics if m in SUMMED) + RATES[api_name]
    return ViewType(api_name, stream, metrics, rules)


VIEW_TYPES = {
    "overall": _view(
        "overall",
        "citygrid_overall",
        ("billable_connections", "revenue", "cpc", "ltc", "ltc_revenue"),
    ),
    "ads": _view(
        "ads",
        "citygrid_ads",
        (
            "impressions",
            "bidded_impressions",
            "billable_clicks",
            "revenue",
            "rpm",
            "ctr",
            "cpc",
            "coverage",
            "ltc",
            "ltc_revenue",
        ),
    ),
    "placesThatPay": _view(
        "placesThatPay",
        "citygrid_places_that_pay",
        ("impressions", "revenue", "rpm", "ltc", "ltc_revenue"),
    ),
}

#: CSV header -> column ("Date Recorded" in overall, "Date" in the other views).
CSV_COLUMNS = {
    "Date Recorded": "date",
    "Date": "date",
    "Billable Connections": "billable_connections",
    "Impressions": "impressions",
    "Bidded Impressions": "bidded_impressions",
    "Billable Clicks": "billable_clicks",
    "Revenue(USD)": "revenue",
    "RPM(USD)": "rpm",
    "CTR": "ctr",
    "CPC(USD)": "cpc",
    "Coverage(%)": "coverage",
    "LTC": "ltc",
    "LTC Revenue(USD)": "ltc_revenue",
}


@dataclass
class Report:
    """A parsed response: what it says it covers, its daily rows, and its totals."""

    rows: list[dict[str, t.Any]]
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    publisher_codes: list[str] = field(default_factory=list)
    #: metric -> the report's stated total (`total_<metric>`, or the `Total:` line).
    totals: dict[str, t.Any] = field(default_factory=dict)


def _typed_totals(view: ViewType, values: t.Mapping[str, t.Any], where: str) -> dict[str, t.Any]:
    try:
        return {m: cast(values[m]) for m, cast in view.casts.items() if m in values}
    except ParseError as exc:
        raise ParseError(f"{where}: {exc}") from None


def _typed_row(view: ViewType, values: t.Mapping[str, t.Any], where: str) -> dict[str, t.Any]:
    if not values.keys() >= view.columns:
        missing = [name for name in ("date", *view.metrics) if name not in values]
        raise ParseError(f"{where}: no {', '.join(missing)} (view_type {view.api_name})")
    try:
        row = {"date": to_date(values["date"])}
        row.update({m: cast(values[m]) for m, cast in view.casts.items()})
    except ParseError as exc:
        raise ParseError(f"{where}: {exc}") from None
    if row["date"] is None:
        raise ParseError(f"{where}: the date is empty")
    return row


def parse_json(body: t.IO[bytes], view: ViewType) -> Report:
    """A JSON report. It holds at most one row per day of one preset (under 200 rows),
    so the document is decoded at once; totals (`total_*`) are not rows."""
    try:
        document = msgspec.json.decode(body.read())
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise ParseError("the response is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("daily_results"), list):
        raise ParseError("the response has no daily_results list")
    if document.get("view_type", view.api_name) != view.api_name:
        raise ParseError(f"asked for view_type {view.api_name}, got {document['view_type']!r}")
    rows = []
    for number, values in enumerate(document["daily_results"], start=1):
        if not isinstance(values, dict):
            raise ParseError(f"daily_results[{number}] is not an object")
        rows.append(_typed_row(view, values, f"daily_results[{number}]"))
    try:
        first, last = to_date(document.get("from")), to_date(document.get("to"))
    except ParseError as exc:
        raise ParseError(f"from/to: {exc}") from None
    stated = {m: document[f"total_{m}"] for m in view.metrics if f"total_{m}" in document}
    return Report(
        rows,
        dt.date.fromisoformat(first) if first else None,
        dt.date.fromisoformat(last) if last else None,
        [str(code) for code in document.get("publisher_codes") or []],
        _typed_totals(view, stated, "totals"),
    )


def is_total_row(cells: list[str]) -> bool:
    """The `"Total: "` line that ends every CSV report."""
    return bool(cells) and cells[0].strip().rstrip(":").strip().lower() == "total"


def parse_csv(
    body: t.IO[bytes], view: ViewType, totals: dict[str, t.Any] | None = None
) -> Iterator[dict[str, t.Any]]:
    """Daily rows of a CSV report, read line by line. The `Total:` row is no row: its
    values fill `totals` (metric -> total) when given."""
    try:
        yield from _csv_rows(
            csv.reader(io.TextIOWrapper(body, encoding="utf-8-sig", newline="")),
            view,
            {} if totals is None else totals,
        )
    except UnicodeDecodeError as exc:
        raise ParseError(f"the CSV is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ParseError(f"the CSV is malformed ({exc})") from None


def _csv_rows(
    reader: Iterator[list[str]], view: ViewType, totals: dict[str, t.Any]
) -> Iterator[dict[str, t.Any]]:
    header = next(reader, None)
    if not header:
        raise ParseError("the CSV response is empty (no header)")
    columns = [CSV_COLUMNS.get(name.strip()) for name in header]
    if "date" not in columns:
        raise ParseError(f"the CSV has no Date column (header: {', '.join(header)[:200]})")
    for line_number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(columns):
            raise ParseError(f"line {line_number} has {len(cells)} cells, not {len(columns)}")
        values = {c: v for c, v in zip(columns, cells, strict=True) if c is not None}
        if is_total_row(cells):
            values.pop("date", None)
            totals.update(_typed_totals(view, values, f"line {line_number} (Total)"))
            continue
        yield _typed_row(view, values, f"line {line_number}")


# Errors

HINTS = {
    400: "A parameter was refused; check citygrid.placements and citygrid.view_types.",
    401: "Check citygrid.username and citygrid.password (the reporting website's login).",
    403: "This login has no access to that publisher code; remove it from "
    "citygrid.publisher_codes or ask CityGrid for access.",
    406: "The API refused the Accept header; set citygrid.format to json or csv.",
}


def describe_error(status: int, body: bytes) -> str:
    """CityGrid documents no error body; its first line is shown, trimmed."""
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:300] if text else ""


# Streams


class CityGridAccount:
    """The login shared by the three streams: one client, one clock, skipped partitions."""

    def __init__(self, vendor: VendorConfig) -> None:
        self.vendor = vendor
        self.auth = (str(vendor["username"]), str(vendor["password"]))
        self.format = str(vendor.get("format", "json"))
        self.client = HttpClient.for_vendor(
            vendor,
            "CityGrid",
            VendorErrors(describe=describe_error, hint=lambda s: HINTS.get(s, "")),
        )
        self.streams: list[CityGridStream] = []
        #: Failed partitions: (stream, publisher_code, placement) -> reason.
        self.skipped: dict[tuple[str, str, str], str] = {}

    def now(self) -> dt.datetime:
        """The clock; in sandbox mode `TAP_PERFREPORTS_SANDBOX_NOW` may freeze it."""
        return clock.now(sandbox=self.vendor.sandbox)

    @property
    def explicit_codes(self) -> bool:
        return bool(self.vendor.get("publisher_codes"))

    @cached_property
    def publisher_codes(self) -> list[str]:
        """Configured codes, or those a request without a code reports on (all the login's)."""
        if self.explicit_codes:
            return [str(code) for code in self.vendor["publisher_codes"]]
        where = "citygrid publisher codes"
        with self.fetch(where, [("report_time", "yesterday")], "json") as body, reading(where):
            codes = parse_json(body, VIEW_TYPES["overall"]).publisher_codes
        if not codes:
            raise ParseError("citygrid: the API lists no publisher_codes for this login")
        return codes

    def request(self, where: str, params: list[tuple[str, str]], fmt: str) -> Request:
        return self.client.request(
            f"{self.vendor.api_url.rstrip('/')}{REPORT_PATH}",
            where=where,
            params=params,
            headers={"Accept": MEDIA_TYPES[fmt]},
            auth=self.auth,
        )

    def fetch(self, where: str, params: list[tuple[str, str]], fmt: str) -> t.IO[bytes]:
        return self.client.send(self.request(where, params, fmt))

    def finish(self, run: RunState) -> None:
        """After the last CityGrid stream: summarise skipped partitions; when the user
        listed them, fail the run once the other vendors' streams have synced too."""
        if not self.skipped:
            return
        lines = "; ".join(
            f"{stream} publisher_code={code} placement={placement}: {reason}"
            for (stream, code, placement), reason in sorted(self.skipped.items())
        )
        codes = sorted({code for _, code, _ in self.skipped})
        summary = f"CityGrid skipped publisher code(s) {', '.join(codes)} ({lines})"
        if self.explicit_codes:
            run.defer_failure(
                f"{summary}. The other partitions were extracted; remove these codes "
                "from citygrid.publisher_codes or ask CityGrid for access."
            )
            return
        self.streams[-1].logger.warning("%s; the other publisher codes were extracted.", summary)


class CityGridStream(ReportStream):
    """One view type, partitioned by publisher code and placement."""

    def __init__(self, tap: Tap, vendor: VendorConfig, view: ViewType, account: CityGridAccount):
        self.view = view
        self.account = account
        super().__init__(
            tap,
            vendor,
            account.client,
            name=view.stream,
            schema=view.schema(),
            primary_keys=["publisher_code", "placement", "date"],
            replication_key="date",
        )

    def account_partitions(self) -> list[dict] | None:
        placements = self.vendor.get("placements") or [ALL_PLACEMENTS]
        return [
            {"publisher_code": code, "placement": str(placement)}
            for code in self.account.publisher_codes
            for placement in placements
        ]

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> Iterator[dict]:
        self.announce()
        context = dict(context or {})
        yield from self.extract_presets(context, self.first_day(context), self.today)

    def first_day(self, context: dict) -> dt.date:
        return resume_from(self.bookmark(context), self.start_date, self.vendor.lookback_days)

    @cached_property
    def today(self) -> dt.date:
        """CityGrid's reporting day, read once so the run's plan and requests agree."""
        return reporting_today(self.account.now())

    def requests_ahead(self, context: dict) -> Iterator[Request]:
        for request in choose_presets(self.first_day(context), self.end_date, self.today).requests:
            yield self.request(context, request)

    def request(self, context: dict, request: PresetRequest) -> Request:
        """The HTTP request for one preset of one partition."""
        params = [
            ("publisher_code", str(context["publisher_code"])),
            ("view_type", self.view.api_name),
            ("report_time", request.preset),
        ]
        if context["placement"] != ALL_PLACEMENTS:
            params.append(("placement", str(context["placement"])))
        where = self.where(context, request.keep) + f" | report_time {request.preset}"
        return self.account.request(where, params, self.account.format)

    def after_sync(self) -> None:
        """After the last selected CityGrid stream, the account summarises skipped
        partitions, at the run's end (so that its lines are the run's last)."""
        selected = [s for s in self.sdk_tap.streams.values() if s in self.account.streams]
        selected = [s for s in selected if s.selected]
        if selected and selected[-1] is self:
            self.run.at_end(lambda: self.account.finish(self.run))

    def extract_presets(
        self, context: dict, start: dt.date, today: dt.date, *, lagging: bool = False
    ) -> Iterator[dict]:
        """The partition's days from `start`, one preset at a time as of reporting day
        `today`, with a checkpoint after each. A 403 skips the partition (summarised by
        `CityGridAccount.finish`). If CityGrid's day has not turned where the tap's has
        (9 p.m. Pacific just passed, or the clocks differ), the days not yet extracted are
        planned again one reporting day earlier."""
        plan = choose_presets(start, self.end_date, today)
        for lost in plan.unreachable:
            self.logger.warning(
                "%s: days %s can no longer be had: the widest report_time preset "
                "reaches back only so far; extracting the rest",
                self.where(context),
                lost,
            )
        if not lagging:
            requests = plan.requests
            first, last = (
                (requests[0].keep.start, requests[-1].keep.end) if requests else (None, None)
            )
            self.partition_planned(context, first, last, len(requests), "report_time request(s)")
        for request in plan.requests:
            where = self.request(context, request).where
            try:
                yield from self.extract(context, request, today, where)
            except ReportingDayLags as exc:
                if lagging:
                    raise ParseError(
                        f"{where}: {exc}, even a day earlier: check this machine's clock."
                    ) from None
                self.logger.warning(
                    "%s: %s; extracting up to %s, the rest next run",
                    where,
                    exc,
                    today - 2 * ONE_DAY,
                )
                previous_day = today - ONE_DAY
                yield from self.extract_presets(
                    context, request.keep.start, previous_day, lagging=True
                )
                return
            except RequestFailed as exc:
                if exc.status != 403:
                    raise
                self.logger.warning("%s", exc)
                key = (self.name, context["publisher_code"], context["placement"])
                self.account.skipped[key] = "HTTP 403, no access"
                return
            self.checkpoint(context, request.keep.end)

    def extract(
        self, context: dict, request: PresetRequest, today: dt.date, where: str
    ) -> Iterator[dict]:
        """The kept days of one preset's report, after checking which days it covers and
        that its rows add up to its totals (`reconcile_window`; reports are at most a
        quarter of daily rows, so they are read whole first)."""
        fmt = self.account.format
        with self.client.send(self.request(context, request)) as body:
            try:
                with reading(where, keep=(CalendarMismatch,)):
                    if fmt == "json":
                        report = parse_json(body, self.view)
                        reported = reported_days(report, request, today)
                    else:
                        report = Report([])
                        report.rows = list(parse_csv(body, self.view, report.totals))
                        reported = request.span
                    kept = list(kept_rows(report.rows, request, reported))
            except ReportingDayLags:
                raise
            except CalendarMismatch as exc:
                raise ParseError(f"{where}: {exc}.") from None
        self.reconcile_window(context, reported, report.totals, report.rows, self.view.rules)
        for row in kept:
            yield {**context, **row}


def kept_rows(rows: Iterable[dict], request: PresetRequest, reported: Window) -> Iterator[dict]:
    """The rows of the days `request` keeps. Each row must lie in the days the report
    covers (`reported`: its own from/to in JSON; in CSV, which has none, the tap's
    calendar for the preset) and each day come once."""
    seen: set[dt.date] = set()
    for row in rows:
        day = dt.date.fromisoformat(row["date"])
        if not reported.start <= day <= reported.end:
            raise CalendarMismatch(
                f"a row for {day} is outside {request.preset} ({reported}); CityGrid's "
                "calendar or clock differs from the tap's: run again, and report it to the "
                "tap's maintainers if it persists"
            )
        if day in seen:
            raise ParseError(f"{day} appears twice")
        seen.add(day)
        if request.keep.start <= day <= request.keep.end:
            yield row


def reported_days(report: Report, request: PresetRequest, today: dt.date) -> Window:
    """The days a JSON report says it covers; its complete days must hold the days kept,
    since the tap's preset calendar is an assumption and its clock may differ from
    CityGrid's."""
    if report.first_day is None or report.last_day is None:
        raise ParseError("the report has no from/to")
    reported = Window(report.first_day, report.last_day)
    last_complete = reported.end
    if request.preset in PRESETS_UP_TO_TODAY:  # it ends on CityGrid's day in progress
        last_complete -= ONE_DAY
    if reported.start <= request.keep.start <= request.keep.end <= last_complete:
        return reported
    if reported == preset_range(request.preset, today - ONE_DAY):
        raise ReportingDayLags(
            f"report_time {request.preset} covered {reported}, its range as of reporting "
            f"day {today - ONE_DAY}: CityGrid's reporting day {today} had not begun"
        )
    raise CalendarMismatch(
        f"report_time {request.preset} covered {reported}, not the expected {request.keep}; "
        "CityGrid's calendar differs from the tap's assumption, report this to the tap's "
        "maintainers"
    )


def build_streams(tap: Tap, vendor: VendorConfig) -> list[Stream]:
    account = CityGridAccount(vendor)
    names = vendor.get("view_types") or list(VIEW_TYPES)
    account.streams = [CityGridStream(tap, vendor, VIEW_TYPES[n], account) for n in names]
    return list(account.streams)


def validate(settings: t.Mapping[str, t.Any]) -> None:
    for name in settings.get("view_types") or []:
        if name not in VIEW_TYPES:
            raise ConfigError("citygrid.view_types", f"{name!r} is not one of {list(VIEW_TYPES)}")
    if settings.get("format", "json") not in MEDIA_TYPES:
        raise ConfigError("citygrid.format", "must be json or csv")
    if ALL_PLACEMENTS in (settings.get("placements") or []):
        raise ConfigError(
            "citygrid.placements",
            f"{ALL_PLACEMENTS!r} is reserved for all placements merged; leave placements out",
        )
    codes = settings.get("publisher_codes")
    if codes is not None and not codes:
        raise ConfigError("citygrid.publisher_codes", "leave out for all codes, or list some")


VENDOR = Vendor(
    key="citygrid",
    title="CityGrid Ad Performance API",
    api_url=API_URL,
    lookback_days=3,
    properties=(
        th.Property("username", th.StringType, description="Reporting website login (basic auth)."),
        th.Property("password", th.StringType, secret=True, description="CityGrid password."),
        th.Property(
            "publisher_codes",
            th.ArrayType(th.StringType),
            description="Publisher codes; default: every code the login may see. A code "
            "listed here that the login may not see fails the run after the others.",
        ),
        th.Property(
            "placements",
            th.ArrayType(th.StringType),
            description="Placements, each its own partition; default: all placements "
            "merged, with placement = 'all'.",
        ),
        th.Property(
            "view_types",
            th.ArrayType(th.StringType),
            description="overall, ads, placesThatPay (streams citygrid_overall, "
            "citygrid_ads, citygrid_places_that_pay); default all three.",
        ),
        th.Property(
            "format",
            th.StringType,
            default="json",
            allowed_values=list(MEDIA_TYPES),
            description="Response format: json (default; from/to are verified) or csv.",
        ),
    ),
    secrets=("password",),
    login=("username", "password"),
    login_hint="the reporting website's login",
    build_streams=build_streams,
    validate=validate,
    default_end_date=latest_complete_day,
    earliest_day=earliest_day,
    max_concurrent_requests=4,
    partitioned_by="publisher code and placement",
    states_totals=True,
)
