"""CityGrid Ad Performance API, emulated: presets only, basic auth, JSON or CSV by Accept.

The presets are computed from the current Pacific reporting day (21:00..21:00
America/Los_Angeles) of the emulators' clock (`EmulatorClock`; `NOW_ENV` freezes it).
Its calendar is written independently of the tap's (tests compare the two), with the
same documented week assumptions: weeks run Sunday..Saturday, a business week
Monday..Friday, `last3Months` is the three calendar months before the current one,
`thisMonth`/`thisQuarter` include today's partial day.

Data: each (publisher code, placement, view type, day) has deterministic counts, or
none on some days; no placement parameter merges every placement of the code. A restated
day is recounted; the reporting day in progress has the counts of its part that has
passed; the rates and totals follow from the counts as always.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import typing as t
from zoneinfo import ZoneInfo

from tap_perfreports.clock import SANDBOX_NOW_ENV
from tap_perfreports.sandbox.emulator import (
    EmulatorClock,
    SandboxRequest,
    SandboxResponse,
    Served,
    share_passed,
    stable_random,
)
from tap_perfreports.sandbox.restatement import Restatements

USERNAME = "sandbox@citygrid.example"
PASSWORD = "sandbox-citygrid-secret"  # noqa: S105 - the sandbox's own documented login
NOW_ENV = SANDBOX_NOW_ENV
#: The login's publisher codes and their placements.
PLACEMENTS = {
    "guest": ("placement_1", "placement_2"),
    "pub_seo": ("newyork_leaderboard", "placement_1"),
    "1234567": ("placement_1",),
}
ALL = "all"


@functools.lru_cache
def placements(scale: int = 1) -> dict[str, tuple[str, ...]]:
    """The login's codes: PLACEMENTS, and as many again per step of `scale` (benchmarks).
    Shared: read only."""
    extra = len(PLACEMENTS) * (scale - 1)
    return {**PLACEMENTS, **{f"pub_{n:05d}": ("placement_1", "placement_2") for n in range(extra)}}


METRICS = {
    "overall": ("billable_connections", "revenue", "cpc", "ltc", "ltc_revenue"),
    "ads": (
        "impressions", "bidded_impressions", "billable_clicks", "revenue", "rpm",
        "ctr", "cpc", "coverage", "ltc", "ltc_revenue",
    ),
    "placesThatPay": ("impressions", "revenue", "rpm", "ltc", "ltc_revenue"),
}  # fmt: skip
CSV_HEADERS = {
    "date": "Date",
    "billable_connections": "Billable Connections",
    "impressions": "Impressions",
    "bidded_impressions": "Bidded Impressions",
    "billable_clicks": "Billable Clicks",
    "revenue": "Revenue(USD)",
    "rpm": "RPM(USD)",
    "ctr": "CTR",
    "cpc": "CPC(USD)",
    "coverage": "Coverage(%)",
    "ltc": "LTC",
    "ltc_revenue": "LTC Revenue(USD)",
}
PACIFIC = ZoneInfo("America/Los_Angeles")
#: The additive metrics; the others are rates derived from them (`with_rates`).
COUNTS = (
    "impressions", "bidded_impressions", "billable_clicks", "billable_connections",
    "revenue", "ltc", "ltc_revenue",
)  # fmt: skip
#: The counts in dollars, which come in quarters.
DOLLARS = ("revenue", "ltc_revenue")


def current_reporting_day(now: dt.datetime) -> dt.date:
    """Reporting day D runs from D-1 21:00 to D 21:00 Pacific."""
    return (now.astimezone(PACIFIC) + dt.timedelta(hours=3)).date()


def reporting_day_passed(day: dt.date, now: dt.datetime) -> float:
    """How much of reporting day `day` has passed at `now`."""
    end = dt.datetime.combine(day, dt.time(21), PACIFIC)
    return share_passed(end - dt.timedelta(days=1), end, now)


def _shift_months(first: dt.date, months: int) -> dt.date:
    year, month = divmod(first.year * 12 + first.month - 1 + months, 12)
    return dt.date(year, month + 1, 1)


def report_range(report_time: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """First and last reporting day of a preset, or None for an unknown one."""
    day = dt.timedelta(days=1)
    month = today.replace(day=1)
    quarter = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    saturday = today - dt.timedelta(days=today.isoweekday() % 7 + 1)
    return {
        "yesterday": (today - day, today - day),
        "last7Days": (today - 7 * day, today - day),
        "last14Days": (today - 14 * day, today - day),
        "last30Days": (today - 30 * day, today - day),
        "lastWeek": (saturday - 6 * day, saturday),
        "lastBusinessWeek": (saturday - 5 * day, saturday - day),
        "thisMonth": (month, today),
        "lastMonth": (_shift_months(month, -1), month - day),
        "last3Months": (_shift_months(month, -3), month - day),
        "thisQuarter": (quarter, today),
        "lastQuarter": (_shift_months(quarter, -3), quarter - day),
    }.get(report_time)


def placement_counts(
    code: str, placement: str, view: str, day: dt.date, revision: int = 0, *, passed: float = 1.0
) -> dict[str, float]:
    """One placement's additive counts for a day; empty when it had no traffic.

    A restated day is recounted (late traffic, invalid clicks credited): new counts from
    the same distribution, drawn for its `revision`; a day without traffic stays without.
    Of the day in progress only `passed` has happened (see `reporting_day_passed`): each
    count in proportion, in its own unit.
    """
    rng = stable_random("citygrid", code, placement, view, day)
    if rng.random() < 0.15:
        return {}
    if revision:
        rng = stable_random("citygrid", code, placement, view, day, revision)
    impressions = rng.randint(0, 40)
    bidded = rng.randint(0, impressions)
    clicks = rng.randint(0, bidded)
    counts = {
        "impressions": impressions,
        "bidded_impressions": bidded,
        "billable_clicks": clicks,
        "billable_connections": rng.randint(0, 40),
        "revenue": rng.randint(0, 400) * 0.25,
        "ltc": rng.randint(0, 8),
        "ltc_revenue": rng.randint(0, 100) * 0.25,
    }
    if passed < 1:
        return {
            name: int(value * passed * 4) / 4 if name in DOLLARS else int(value * passed)
            for name, value in counts.items()
        }
    return counts


def _ratio(numerator: float, denominator: float, scale: float) -> float:
    return round(numerator * scale / denominator, 2) if denominator else 0.0


def with_rates(counts: dict[str, float], view: str) -> dict[str, float]:
    """Counts plus the rates the API derives from them (2 decimals), as the doc's examples
    compute them: overall cpc per billable connection; ads cpc per billable click and rpm
    per thousand bidded impressions. placesThatPay's rpm follows from no column the doc
    shows; here it is per thousand impressions."""
    ads = view == "ads"
    return {
        **counts,
        "revenue": round(counts["revenue"], 2),
        "ltc_revenue": round(counts["ltc_revenue"], 2),
        "rpm": _ratio(
            counts["revenue"], counts["bidded_impressions" if ads else "impressions"], 1000
        ),
        "ctr": _ratio(counts["billable_clicks"], counts["bidded_impressions"], 100),
        "cpc": _ratio(
            counts["revenue"], counts["billable_clicks" if ads else "billable_connections"], 1
        ),
        "coverage": _ratio(counts["bidded_impressions"], counts["impressions"], 100),
    }


def daily_row(
    code: str,
    placements: t.Sequence[str],
    view: str,
    day: dt.date,
    revision: int = 0,
    *,
    passed: float = 1.0,
) -> dict | None:
    """The row a request for `placements` of `code` reports for a day, or None."""
    parts = [placement_counts(code, p, view, day, revision, passed=passed) for p in placements]
    parts = [part for part in parts if part]
    if not parts:
        return None
    counts = {name: sum(part[name] for part in parts) for name in parts[0]}
    rates = with_rates(counts, view)
    return {"date": day.isoformat(), **{m: rates[m] for m in METRICS[view]}}


def with_data_fault(
    kind: str, view: str, rows: list[dict], totals: dict[str, float]
) -> tuple[list[dict], dict[str, float]]:
    """A report whose totals (computed from the true rows) and rows disagree: see the
    data fault kinds in `faults.py`. Each touches the view's first metric (a count) or
    the middle row; a report without rows is left alone."""
    metric = METRICS[view][0]
    if kind == "wrong_total":
        return rows, {**totals, f"total_{metric}": totals[f"total_{metric}"] + 1}
    if not rows:
        return rows, totals
    middle = len(rows) // 2
    if kind == "altered_value":
        altered = {**rows[middle], metric: rows[middle][metric] + 1}
        return [*rows[:middle], altered, *rows[middle + 1 :]], totals
    if kind == "dropped_day":
        return rows[:middle] + rows[middle + 1 :], totals
    return rows, totals


class BadRequest(Exception):
    """A parameter the real API would refuse with HTTP 400."""


class CityGridEmulator(EmulatorClock):
    key = "citygrid"
    #: The documented API's base path, served below /citygrid.
    base_path = ""
    #: What fills the tap's `citygrid` object in sandbox mode.
    tap_settings: t.ClassVar[dict[str, t.Any]] = {"username": USERNAME, "password": PASSWORD}
    #: Codes the login lists but may not read (access revoked): 403.
    forbidden: frozenset[str] = frozenset()
    #: Multiplies the login's publisher codes (`tap-perfreports-sandbox --scale`).
    scale = 1

    def __init__(self, restatements: Restatements | None = None) -> None:
        self.restatements = restatements or Restatements()

    @property
    def placements(self) -> dict[str, tuple[str, ...]]:
        return placements(self.scale)

    def cacheable(self, request: SandboxRequest) -> bool:
        """Reports are a function of the request (and the frozen clock)."""
        return True

    def error_response(self, status: int) -> SandboxResponse:
        messages = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            406: "Not Acceptable",
        }
        text = messages.get(status, "Internal Server Error")
        return SandboxResponse(status, text.encode(), "text/plain")

    def handle(self, request: SandboxRequest) -> SandboxResponse:  # noqa: PLR0911 - one per status
        if request.path.rstrip("/") != "/ads/performance/v2/daily":
            return SandboxResponse(404, b"Not Found", "text/plain")
        if request.basic_auth() != (USERNAME, PASSWORD):
            return self.error_response(401)
        accept = request.headers.get("Accept", "")
        if accept not in ("application/json", "application/csv"):
            return self.error_response(406)
        now = self.clock()
        try:
            codes, placements, view, first, last = self._parameters(request, now)
        except BadRequest as exc:
            return SandboxResponse(400, f"Bad Request: {exc}".encode(), "text/plain")
        except PermissionError as exc:
            return SandboxResponse(403, f"Forbidden: {exc}".encode(), "text/plain")
        rows = []
        revisions = self.restatements.current
        for offset in range((last - first).days + 1):
            day = first + dt.timedelta(days=offset)
            passed = reporting_day_passed(day, now)
            merged = self._merged(codes, placements, view, day, revisions.of(day), passed=passed)
            if merged is not None:
                rows.append(merged)
        totals = self._totals(view, rows)
        if request.data_fault is not None:
            rows, totals = with_data_fault(request.data_fault, view, rows, totals)
        code_label = "+".join(codes)
        placement_label = "+".join(placements) if placements else ALL
        keys = [(code_label, placement_label, row["date"]) for row in rows]
        # A request without a code merges every code: kept apart from per-code rows.
        table = f"citygrid:{view}" if len(codes) == 1 else f"citygrid:{view}:all_codes"
        served = [Served(table, keys)]
        report = {
            "view_type": view,
            "placements": placements or None,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "publisher_codes": codes,
        }
        if accept == "application/csv":
            csv_body = self._csv(view, rows, totals)
            return SandboxResponse(200, csv_body, "application/csv", served=served)
        body = json.dumps({**report, "daily_results": rows, **totals})
        return SandboxResponse(200, body.encode(), "application/json", served=served)

    def _parameters(
        self, request: SandboxRequest, now: dt.datetime
    ) -> tuple[list[str], list[str], str, dt.date, dt.date]:
        known = {"publisher_code", "placement", "view_type", "report_time"}
        unknown = sorted(set(request.query) - known)
        if unknown:
            raise BadRequest(f"unknown parameter {unknown[0]}")
        view = request.param("view_type") or "overall"
        if view not in METRICS:
            raise BadRequest(f"invalid view_type {view}")
        preset = request.param("report_time") or "yesterday"
        span = report_range(preset, current_reporting_day(now))
        if span is None:
            raise BadRequest(f"invalid report_time {preset}")
        code = request.param("publisher_code")
        if code is not None and (code not in self.placements or code in self.forbidden):
            raise PermissionError(f"no access to publisher code {code}")
        codes = [code] if code else list(self.placements)
        return codes, request.params("placement"), view, span[0], span[1]

    def _merged(
        self,
        codes: list[str],
        placements: list[str],
        view: str,
        day: dt.date,
        revision: int,
        *,
        passed: float,
    ) -> dict | None:
        """Rows of several codes add up: counts summed, rates recomputed."""
        if len(codes) == 1:
            chosen = placements or self.placements[codes[0]]
            return daily_row(codes[0], chosen, view, day, revision, passed=passed)
        parts = [
            placement_counts(c, p, view, day, revision, passed=passed)
            for c in codes
            for p in placements or self.placements[c]
        ]
        parts = [part for part in parts if part]
        if not parts:
            return None
        rates = with_rates({name: sum(part[name] for part in parts) for name in parts[0]}, view)
        return {"date": day.isoformat(), **{m: rates[m] for m in METRICS[view]}}

    @staticmethod
    def _totals(view: str, rows: list[dict]) -> dict[str, float]:
        """Counts summed; rates computed from the sums, as for one day."""
        counts: dict[str, float] = dict.fromkeys(COUNTS, 0)
        counts.update({m: sum(row[m] for row in rows) for m in METRICS[view] if m in COUNTS})
        rates = with_rates(counts, view)
        return {f"total_{m}": rates[m] for m in METRICS[view]}

    def _csv(self, view: str, rows: list[dict], totals: dict[str, float]) -> bytes:
        columns = ["date", *METRICS[view]]
        header = ["Date Recorded" if view == "overall" else "Date"]
        header += [CSV_HEADERS[m] for m in METRICS[view]]
        lines = [header]
        lines += [[str(row[c]) for c in columns] for row in rows]
        lines.append(["Total: ", *(str(totals[f"total_{m}"]) for m in METRICS[view])])
        return "".join(",".join(f'"{cell}"' for cell in line) + "\n" for line in lines).encode()
