"""Infinity Reports API v2: event and metric reports as JSON lines.

Every configured report is a stream `infinity_<name>` partitioned by installation
(`igrp`). Event reports (`triggers/...`) are incremental on the event time and paged by
`rowId` (keyset): Infinity stops a report from pulling more than 50,000 rows by offset,
so a window is read in batches sorted by `rowId` ascending (and by nothing else), each
paged by limit/offset up to `batch_size` rows, the next batch asking for the rows whose
`rowId` is greater than the last one received (`rowId-gt-value-N`; the operand code is
not documented, hence the `row_id_operand` setting), until a short page. Aggregate
reports (`metrics/...`) are fetched one day per request so each row carries its `date`;
their rows have no `rowId`, so they page by offset, and a day that fills a whole batch
fails rather than be asked for past the limit. See `Paging`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import typing as t
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from singer_sdk import typing as th

from tap_perfreports.casting import Cast, cast_for, datetime_caster, snake_case, to_int
from tap_perfreports.errors import ConfigError, ParseError, PermanentError, RequestFailed, reading
from tap_perfreports.http import HttpClient, VendorErrors
from tap_perfreports.streams import ReportStream
from tap_perfreports.vendor import Vendor, VendorConfig
from tap_perfreports.windows import Window, latest_complete_day

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk import Stream, Tap

    from tap_perfreports.fetch_ahead import Request

logger = logging.getLogger("tap_perfreports.infinity")

API_URL = "https://api.infinitycloud.com/reports/v2"
MAX_PAGE_SIZE = 10_000
#: Infinity's knowledge base: a report pulls at most 50,000 rows by offset (and it suggests
#: batches of 50,000 paged by rowId beyond that).
MAX_OFFSET_ROWS = 50_000
#: The greater-than operand of `{field}-{operand}-value-{value}` filters. Our page lists
#: `eq` only; `gt` is an assumption, configurable as `row_id_operand`.
DEFAULT_ROW_ID_OPERAND = "gt"
EVENT_WINDOW_DAYS = 31

#: JSON-schema types of the vendor fields we know; others are strings.
FIELD_TYPES: dict[str, dict] = {
    "rowId": {"type": ["integer"]},
    "triggerDatetime": {"type": ["string"], "format": "date-time"},
    "igrp": {"type": ["integer"]},
    "ch": {"type": ["integer", "null"]},
    "goal": {"type": ["integer", "null"]},
    "revenue": {"type": ["number", "null"]},
    "attributionModelId": {"type": ["integer", "null"]},
}

DEFAULT_REPORTS: tuple[dict[str, t.Any], ...] = (
    {
        "name": "triggers",
        "route": "triggers/all",
        "display": [
            "rowId",
            "triggerDatetime",
            "act",
            "vid",
            "ch",
            "goal",
            "srcPhoneNumber",
            "ip",
            "host",
            "whois",
            "revenue",
        ],
    },
    {
        "name": "channel_metrics",
        "route": "metrics/channels",
        "group": ["ch"],
        "display": ["ch", "chName", "triggerCount", "callCount", "goalCount", "revenue"],
    },
)


def field_schema(field: str) -> dict:
    """Type of a vendor field: known ones from the catalog, counts as integers."""
    if field in FIELD_TYPES:
        return FIELD_TYPES[field]
    if field.endswith("Count"):
        return {"type": ["integer", "null"]}
    return {"type": ["string", "null"]}


class InfinityReport:
    """One configured report: its route, query and the columns it produces."""

    def __init__(self, spec: t.Mapping[str, t.Any]) -> None:
        self.name: str = spec["name"]
        self.route: str = spec["route"].strip("/")
        self.is_event_report = self.route.startswith("triggers/")
        self.incremental: bool = spec.get("incremental", True) is not False
        self.group: list[str] = list(spec.get("group") or [])
        self.filters: list[str] = list(spec.get("filter") or [])
        self.sort: list[str] = list(spec.get("sort") or [])
        self.custom_metrics: dict[str, str] = dict(spec.get("custom_metrics") or {})
        self.ch_type: str | None = spec.get("ch_type")
        self.attribution_model_id: int | None = spec.get("attribution_model_id")
        display = list(spec.get("display") or [])
        if self.is_event_report:
            display = ["rowId", "triggerDatetime"] + [
                d for d in display if d not in ("rowId", "triggerDatetime")
            ]
        else:
            display = self.group + [d for d in display if d not in self.group]
        display += [ref for ref in self.custom_metrics if ref not in display]
        self.display = display
        #: vendor field (or alias) -> column name
        self.columns = {self.output_name(d): snake_case(self.output_name(d)) for d in display}

    @staticmethod
    def output_name(display: str) -> str:
        """The key the API uses in its rows: the alias of `field-alias`, else the field."""
        field, _, alias = display.partition("-")
        return alias or field

    def source_field(self, display: str) -> str:
        return display.partition("-")[0]

    def query(self) -> list[tuple[str, str | int]]:
        params: list[tuple[str, str | int]] = [("display[]", d) for d in self.display]
        params += [("filter[]", f) for f in self.filters]
        params += [("group[]", g) for g in self.group]
        # Paging by rowId needs rows sorted by rowId ascending and by nothing else.
        params += [("sort[]", s) for s in (["rowId-asc"] if self.is_event_report else self.sort)]
        params += [(f"customMetrics[{ref}]", value) for ref, value in self.custom_metrics.items()]
        if self.ch_type:
            params.append(("chType", self.ch_type))
        if self.attribution_model_id is not None:
            params.append(("attributionModelId", self.attribution_model_id))
        return params

    def schema(self) -> dict:
        properties: dict[str, dict] = {"igrp": {"type": ["integer"]}}
        if not self.is_event_report and self.incremental:
            properties["date"] = {"type": ["string"], "format": "date"}
        for display in self.display:
            field = self.source_field(display)
            if display in self.custom_metrics:
                metric = self.custom_metrics[display].partition("_")[0]
                properties[self.columns[display]] = field_schema(metric)
            else:
                prop = field_schema(field)
                if field in self.group:  # part of the primary key: never null
                    prop = {**prop, "type": [t for t in prop["type"] if t != "null"]}
                properties[self.columns[self.output_name(display)]] = prop
        return {"type": "object", "properties": properties}

    def primary_keys(self) -> list[str]:
        if self.is_event_report:
            return ["igrp", "trigger_datetime", "row_id"]
        dates = ["date"] if self.incremental else []
        return ["igrp", *dates, *(snake_case(g) for g in self.group)]

    def required_columns(self) -> list[str]:
        """The primary-key columns the rows themselves carry (not igrp nor date)."""
        return [c for c in self.primary_keys() if c in self.columns.values()]

    def replication_key(self) -> str | None:
        if not self.incremental:
            return None
        return "trigger_datetime" if self.is_event_report else "date"


@dataclass(frozen=True)
class Page:
    """One request of a query: `limit` rows at `offset` among the rows whose rowId is
    greater than `after` (None: every row of the query)."""

    after: int | None
    offset: int
    limit: int
    #: Asked for because an empty page followed full ones: the end of the rows, or an
    #: offset limit lower than `batch_size` that answers empty pages instead of refusing.
    checks_cut: bool = False

    def describe(self) -> str:
        """For log lines and errors: which part of the window this request asks for."""
        where = f"offset {self.offset}"
        return where if self.after is None else f"rows after rowId {self.after}, {where}"


class OffsetLimitReached(Exception):
    """An aggregate query filled a whole batch, and has no rowId to page further by."""


@dataclass(frozen=True)
class Paging:
    """How a query is paged; pure, so the rules are tested without HTTP.

    By rowId (event reports): batches of at most `batch_size` rows, each paged by
    limit/offset in `page_size` rows, never asking by offset past the batch; a full batch
    is followed by a batch of the rows after its last rowId; a short page ends the query.
    An empty page after full ones is checked with one more batch (an API whose offset
    limit is below `batch_size` may answer so rather than refuse). By offset (aggregate
    reports): pages of `page_size` up to `batch_size` rows; a full last page there raises
    OffsetLimitReached (more rows may exist, and the API would refuse or cut them).
    """

    page_size: int
    batch_size: int
    by_row_id: bool

    def first(self) -> Page:
        return Page(None, 0, min(self.page_size, self.batch_size))

    def after(self, page: Page, received: int, last_row_id: int | None) -> Page | None:
        """The request after `page`, which brought `received` rows, the last of the query
        so far having `last_row_id`; None when the query is complete."""
        if received < page.limit:
            if self.by_row_id and received == 0 and page.offset > 0 and last_row_id is not None:
                return Page(last_row_id, 0, self.first().limit, checks_cut=True)
            return None
        offset = page.offset + received
        if offset < self.batch_size:
            return Page(page.after, offset, min(self.page_size, self.batch_size - offset))
        if not self.by_row_id or last_row_id is None:
            raise OffsetLimitReached
        return Page(last_row_id, 0, self.first().limit)


def next_row_id(row_id: int, last: int | None) -> int:
    """`row_id`, checked to follow `last`: paging by rowId needs ascending rowIds."""
    if last is not None and row_id <= last:
        raise ParseError(
            f"rowId {row_id} came after rowId {last}: the rows are not in ascending rowId "
            "order, which paging by rowId needs"
        )
    return row_id


def parse_lines(
    body: t.IO[bytes],
    columns: t.Mapping[str, str],
    casts: t.Mapping[str, Cast],
    required: t.Collection[str] = (),
) -> Iterator[dict[str, t.Any]]:
    """Typed records from a JSON-lines body: vendor keys renamed to columns, cast once.
    A row without a `required` column (a primary key) is an error, never a null key."""
    decode = msgspec.json.Decoder().decode
    for number, line in enumerate(body, start=1):
        if not line.strip():
            continue
        try:
            row = decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise ParseError(f"line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise ParseError(f"line {number} is not a JSON object")
        try:
            record = {column: casts[column](row.get(key)) for key, column in columns.items()}
        except ParseError as exc:
            raise ParseError(f"line {number}: {exc}") from None
        missing = [column for column in required if record[column] is None]
        if missing:
            raise ParseError(f"line {number} has no {missing[0]}")
        yield record


def describe_error(status: int, body: bytes) -> str:
    """Infinity errors are a JSON string: `"Resource not found"`."""
    text = body.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text[:300]
    return value if isinstance(value, str) else text[:300]


def check_body(head: bytes) -> None:
    """A 200 whose body is a JSON string is an error message, not an empty report."""
    if head.lstrip().startswith(b'"'):
        raise PermanentError(f"the API answered with an error: {describe_error(200, head)}")


HINTS = {
    401: "Check infinity.username and infinity.password (HTTP basic auth).",
    403: "The login lacks permission for this installation or report; ask your Infinity admin.",
    400: "Check infinity.igrps and this report's settings under infinity.reports (route, "
    "display, filter, group); for an event report refused past some rows, lower "
    "infinity.batch_size, and for a refused rowId filter check infinity.row_id_operand.",
    404: "Check the report's route under infinity.reports.",
}


class InfinityStream(ReportStream):
    """One Infinity report, partitioned by installation."""

    max_window_days = EVENT_WINDOW_DAYS

    def __init__(
        self, tap: Tap, vendor: VendorConfig, report: InfinityReport, account: InfinityAccount
    ) -> None:
        self.report = report
        self.account = account
        if not report.is_event_report:
            self.max_window_days = 1
        super().__init__(
            tap,
            vendor,
            account.client,
            name=f"infinity_{report.name}",
            schema=report.schema(),
            primary_keys=report.primary_keys(),
            replication_key=report.replication_key(),
        )
        self.casts = {name: cast_for(prop) for name, prop in self.schema["properties"].items()}
        if "trigger_datetime" in self.casts:
            self.casts["trigger_datetime"] = datetime_caster(self.tz)

    @cached_property
    def tz(self) -> dt.tzinfo:
        return ZoneInfo(self.vendor.get("tz", "UTC"))

    def account_partitions(self) -> list[dict] | None:
        return [{"igrp": igrp} for igrp in self.account.installations]

    @property
    def page_size(self) -> int:
        return int(self.vendor.get("page_size", MAX_PAGE_SIZE))

    @cached_property
    def paging(self) -> Paging:
        return Paging(
            page_size=self.page_size,
            batch_size=int(self.vendor.get("batch_size", MAX_OFFSET_ROWS)),
            by_row_id=self.report.is_event_report,
        )

    @cached_property
    def row_id_operand(self) -> str:
        return str(self.vendor.get("row_id_operand", DEFAULT_ROW_ID_OPERAND))

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> Iterator[dict]:
        self.announce()
        if self.report.incremental:
            yield from super().get_records(context)
        else:
            yield from self.pages(dict(context or {}), None)

    def requests_ahead(self, context: dict) -> Iterator[Request]:
        """The first page of each window: later pages depend on it (whether it was full,
        and for the next batch its last rowId), so they are sent when their turn comes."""
        windows = self.plan(context) if self.report.incremental else [None]
        for window in windows:
            yield self.page_request(context, window, self.paging.first())

    def extract_window(self, context: dict, window: Window) -> Iterator[dict]:
        yield from self.pages(context, window)

    def page_request(self, context: dict, window: Window | None, page: Page) -> Request:
        params: list[tuple[str, str | int]] = [("igrp", context["igrp"]), *self.report.query()]
        if page.after is not None:
            params.append(("filter[]", f"rowId-{self.row_id_operand}-value-{page.after}"))
        if window is not None:
            params += [("startDate", window.start.isoformat()), ("endDate", window.end.isoformat())]
        if self.vendor.get("tz"):
            params.append(("tz", self.vendor["tz"]))
        if self.vendor.get("exclude_pii"):
            params.append(("excludePiiData", 1))
        params += [("limit", page.limit), ("offset", page.offset)]
        return self.client.request(
            f"{self.vendor.api_url}/{self.report.route}",
            where=f"{self.where(context, window)} | {page.describe()}",
            params=params,
            auth=self.account.auth,
        )

    def pages(self, context: dict, window: Window | None) -> Iterator[dict]:
        """Every row of one query, page after page (see `Paging`)."""
        extra = {"date": window.start.isoformat()} if "date" in self.casts and window else {}
        page: Page | None = self.paging.first()
        last_row_id: int | None = None
        while page is not None:
            request = self.page_request(context, window, page)
            count, last = yield from self.page(request, context["igrp"], extra, last_row_id)
            if page.checks_cut and count:
                logger.warning(
                    "%s: the API answered an empty page by offset although rows remained: "
                    "its offset limit is below infinity.batch_size (%d); the rest was asked "
                    "for by rowId. Lower infinity.batch_size.",
                    request.where,
                    self.paging.batch_size,
                )
            last_row_id = last if last is not None else last_row_id
            try:
                page = self.paging.after(page, count, last_row_id)
            except OffsetLimitReached:
                raise RequestFailed(
                    f"{request.where}: {self.paging.batch_size} rows or more in one query, "
                    "which the API will not page past by offset, and these rows have no rowId "
                    "to page by. Narrow the report under infinity.reports (a filter, fewer "
                    "group fields)."
                ) from None

    def page(
        self, request: Request, igrp: int, extra: dict, last_row_id: int | None
    ) -> t.Generator[dict, None, tuple[int, int | None]]:
        """The records of one page; returns how many there were and the last rowId.

        Event rows must come in ascending rowId order, after `last_row_id`: otherwise
        paging by rowId would skip or repeat rows, so that fails the window."""
        count = 0
        check = self.report.is_event_report
        with self.client.send(request) as body, reading(request.where):
            for record in parse_lines(
                body, self.report.columns, self.casts, self.report.required_columns()
            ):
                if check:
                    last_row_id = next_row_id(record["row_id"], last_row_id)
                count += 1
                record["igrp"] = igrp
                record.update(extra)
                yield record
        return count, last_row_id if check else None


class InfinityAccount:
    """The login shared by all Infinity streams: one HTTP client, installations looked up once."""

    def __init__(self, vendor: VendorConfig) -> None:
        self.vendor = vendor
        self.auth = (str(vendor["username"]), str(vendor["password"]))
        self.client = HttpClient.for_vendor(
            vendor,
            "Infinity",
            VendorErrors(
                describe=describe_error, hint=lambda s: HINTS.get(s, ""), check_body=check_body
            ),
        )

    @cached_property
    def installations(self) -> list[int]:
        """Configured installation ids, or every one the login can see (`igrps` route)."""
        configured = self.vendor.get("igrps")
        if configured:
            return [int(i) for i in configured]
        columns = {"igrp": "igrp", "igrpId": "igrp_id"}
        casts: dict[str, Cast] = {"igrp": to_int, "igrp_id": to_int}
        with self.client.fetch(
            f"{self.vendor.api_url}/igrps", where="infinity installations (igrps)", auth=self.auth
        ) as body:
            rows = list(parse_lines(body, columns, casts))
        found = [row["igrp"] if row["igrp"] is not None else row["igrp_id"] for row in rows]
        if None in found:
            raise ParseError("infinity installations (igrps): a row has no igrp or igrpId")
        return t.cast(list[int], found)


def build_streams(tap: Tap, vendor: VendorConfig) -> list[Stream]:
    account = InfinityAccount(vendor)
    reports = vendor.get("reports") or DEFAULT_REPORTS
    return [InfinityStream(tap, vendor, InfinityReport(spec), account) for spec in reports]


def validate(settings: t.Mapping[str, t.Any]) -> None:
    page_size = settings.get("page_size")
    if page_size is not None and not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise ConfigError("infinity.page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
    batch_size = settings.get("batch_size")
    if batch_size is not None and not 1 <= int(batch_size) <= MAX_OFFSET_ROWS:
        raise ConfigError("infinity.batch_size", f"must be between 1 and {MAX_OFFSET_ROWS}")
    operand = settings.get("row_id_operand")
    if operand is not None and not re.fullmatch(r"[A-Za-z]+", str(operand)):
        raise ConfigError(
            "infinity.row_id_operand", f"{operand!r} is not an operand code such as gt"
        )
    if settings.get("tz"):
        try:
            ZoneInfo(settings["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "infinity.tz", f"{settings['tz']!r} is not a time zone such as Europe/London"
            ) from None
    for report in settings.get("reports") or []:
        if not str(report.get("route", "")).startswith(("triggers/", "metrics/")) and report.get(
            "incremental", True
        ):
            raise ConfigError(
                f"infinity.reports[{report.get('name')}].route",
                "incremental reports must be a triggers/... or metrics/... route; "
                "set incremental: false for others",
            )
        if str(report.get("route", "")).strip("/").startswith("triggers/") and report.get("sort"):
            raise ConfigError(
                f"infinity.reports[{report.get('name')}].sort",
                "event reports are sorted by rowId only (they page by rowId); remove it",
            )
        if str(report.get("route", "")).startswith("metrics/") and not report.get("display"):
            raise ConfigError(
                f"infinity.reports[{report.get('name')}].display",
                "metrics reports need display fields",
            )


def default_end_date(now: dt.datetime, settings: t.Mapping[str, t.Any]) -> dt.date:
    """The last day that has ended in the report time zone (`tz`)."""
    return latest_complete_day(now, ZoneInfo(settings.get("tz") or "UTC"))


REPORT = th.ObjectType(
    th.Property(
        "name",
        th.StringType(pattern=r"^[a-z][a-z0-9_]*$"),
        required=True,
        description="Stream name suffix: the stream is infinity_<name>.",
    ),
    th.Property(
        "route",
        th.StringType,
        required=True,
        description="API route, e.g. triggers/calls or metrics/channels.",
    ),
    th.Property(
        "display",
        th.ArrayType(th.StringType),
        description="Fields to output (display[]); `field-alias` renames.",
    ),
    th.Property(
        "filter",
        th.ArrayType(th.StringType),
        description="Filters (filter[]), e.g. act-eq-value-call.",
    ),
    th.Property(
        "group",
        th.ArrayType(th.StringType),
        description="Group fields (group[]) of an aggregate report.",
    ),
    th.Property(
        "sort",
        th.ArrayType(th.StringType),
        description="Sort (sort[]) of an aggregate report; event reports are sorted by "
        "rowId only, as paging by rowId needs.",
    ),
    th.Property(
        "custom_metrics",
        th.ObjectType(additional_properties=th.StringType),
        description="customMetrics[reference]=definition, e.g. goals246: goalCount_goal_246.",
    ),
    th.Property("ch_type", th.StringType, description="Channel type (chType)."),
    th.Property("attribution_model_id", th.IntegerType, description="attributionModelId."),
    th.Property(
        "incremental",
        th.BooleanType,
        default=True,
        description="Extract by date windows (true) or in full every run (false).",
    ),
    additional_properties=False,
)

VENDOR = Vendor(
    key="infinity",
    title="Infinity Reports API v2",
    api_url=API_URL,
    lookback_days=3,
    properties=(
        th.Property("username", th.StringType, description="Infinity login (HTTP basic auth)."),
        th.Property("password", th.StringType, secret=True, description="Infinity password."),
        th.Property(
            "igrps",
            th.ArrayType(th.IntegerType),
            description="Installation ids; default: every installation the login sees.",
        ),
        th.Property(
            "tz",
            th.StringType,
            description="Report time zone (tz), e.g. Europe/London; default UTC.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=MAX_PAGE_SIZE,
            description="Rows per request (limit); the API allows at most 10000.",
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1, maximum=MAX_OFFSET_ROWS),
            default=MAX_OFFSET_ROWS,
            description="Rows paged by offset before an event report asks for the rows "
            "after the last rowId (the API pulls at most 50000 by offset); also the most "
            "rows an aggregate report may have per day.",
        ),
        th.Property(
            "row_id_operand",
            th.StringType(pattern=r"^[A-Za-z]+$"),
            default=DEFAULT_ROW_ID_OPERAND,
            description="Operand code for 'greater than' in the rowId filter that pages "
            "event reports (rowId-<operand>-value-<last rowId>); not documented, gt assumed.",
        ),
        th.Property(
            "exclude_pii",
            th.BooleanType,
            default=False,
            description="Ask the API to redact PII (excludePiiData=1).",
        ),
        th.Property(
            "reports",
            th.ArrayType(REPORT),
            description="Reports to extract, each a stream infinity_<name>; default: "
            "triggers (triggers/all) and channel_metrics (metrics/channels by ch).",
        ),
    ),
    secrets=("password",),
    login=("username", "password"),
    login_hint="HTTP basic auth login",
    build_streams=build_streams,
    validate=validate,
    default_end_date=default_end_date,
    max_concurrent_requests=4,
    partitioned_by="installation",
)
