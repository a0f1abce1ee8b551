"""Plum Voice VoiceTrends performance: IVR call quality per phone number and period.

One stream, `plumvoice_performance`, partitioned by phone number (and period). The API
answers one object per metric, each keyed by the Unix time a period starts; the parser
unpivots that into one row per period. Requests are paced proactively: the account's
150 requests per 15 minutes are shared with every other raw-data resource, so the tap
reads the `X-RateLimit-*` headers on every response and waits for the reset rather than
sending a request that will be refused (see `pacing.py`).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import typing as t
from urllib.parse import quote

import msgspec
from lxml import etree
from singer_sdk import typing as th

from tap_perfreports.casting import casts_for, to_int
from tap_perfreports.errors import ConfigError, ParseError, PermanentError
from tap_perfreports.http import HttpClient, VendorErrors
from tap_perfreports.pacing import RateLimitPacer
from tap_perfreports.streams import ReportStream
from tap_perfreports.vendor import Vendor, VendorConfig
from tap_perfreports.windows import ONE_DAY, Window, latest_complete_day, resume_from

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from singer_sdk import Stream, Tap

    from tap_perfreports.fetch_ahead import Request

API_URL = "https://voicetrends.plumvoice.com/api"
PERIODS = ("day", "week", "month")
ACCEPT = {"json": "application/json", "xml": "application/xml"}
ALL_PHONES = "ALL"
#: The widest range one request asks for. The doc states no maximum; a year keeps each
#: response small (at most 366 periods x 6 metrics, about 45 KB of JSON), which matters
#: because a row is complete only at the end of the body (the API groups by metric), so
#: a window is pivoted in memory. A 3-year daily backfill costs 3 requests per phone.
MAX_WINDOW_DAYS = 366
#: Weeks start on Monday (ISO 8601); windows start on a week's first day.
WEEK_STARTS_ON = 0
#: Documented limit: 150 raw-data requests per 15-minute window, per account.
REQUESTS_PER_WINDOW = 150
WINDOW_SECONDS = 900
#: Extra wait after a reset, for the difference between our clock and Plum Voice's.
RESET_MARGIN_SECONDS = 1.0
SANDBOX_RESET_MARGIN_SECONDS = 0.05
#: The westernmost UTC offset: a day is over everywhere once it is over here.
LAST_TIME_ZONE = dt.timezone(dt.timedelta(hours=-12))

METRICS: dict[str, th.JSONTypeHelper] = {
    "calls": th.IntegerType(),
    "js_errors": th.IntegerType(),
    "js_errors_per_call": th.NumberType(),
    "fetch_errors": th.IntegerType(),
    "fetch_errors_per_call": th.NumberType(),
    "average_page_load": th.NumberType(),
}

SCHEMA = th.PropertiesList(
    th.Property("phone", th.StringType, required=True, description="Number, or ALL (merged)."),
    th.Property("period", th.StringType, required=True, description="day, week or month."),
    th.Property(
        "period_start",
        th.DateTimeType,
        required=True,
        description="Start of the period (the account's local midnight), in UTC.",
    ),
    *(th.Property(name, kind) for name, kind in METRICS.items()),
).to_dict()
CASTS = casts_for(SCHEMA)


# Windows aligned to periods


def period_start(day: dt.date, period: str) -> dt.date:
    """First day of the period containing `day`."""
    if period == "week":
        return day - dt.timedelta(days=(day.weekday() - WEEK_STARTS_ON) % 7)
    if period == "month":
        return day.replace(day=1)
    return day


def next_period_start(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + ONE_DAY


def period_windows(first: dt.date, end: dt.date, period: str, max_days: int) -> list[Window]:
    """Windows of whole periods, each at most `max_days` long, from the period of `first`.

    Every window starts on a period's first day, so no period is split between two
    requests (the API would aggregate each part alone). The last window ends on `end`:
    its period may be unfinished, and the next run pulls it again (see `plan`). Nothing
    when `first` is after `end`: no new day, no request, even inside an unfinished period.
    """
    if first > end:
        return []
    windows = []
    cursor = period_start(first, period)
    while cursor <= end:
        following = next_period_start(cursor, period)
        while following <= end and (next_period_start(following, period) - cursor).days <= max_days:
            following = next_period_start(following, period)
        windows.append(Window(cursor, min(following - ONE_DAY, end)))
        cursor = following
    return windows


# Parsing


def sniff_xml(body: t.IO[bytes]) -> bool:
    """Whether a body is XML, by its first byte: the API's Content-Type is not reliable."""
    head = body.read(64)
    body.seek(0)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def json_series(body: t.IO[bytes]) -> dict[str, dict[str, t.Any]]:
    """metric -> {timestamp: value} from a JSON body (PHP sends `[]` for an empty map)."""
    try:
        document = msgspec.json.decode(body.read())
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"not JSON ({exc})") from None
    if document == []:
        return {}
    if not isinstance(document, dict):
        raise ParseError(f"expected a JSON object of metrics, got {type(document).__name__}")
    if "error" in document:
        raise ParseError(f"the API answered with an error: {document['error']}")
    series: dict[str, dict[str, t.Any]] = {}
    for metric, values in document.items():
        if not isinstance(values, dict) and values != []:
            raise ParseError(f"{metric}: expected an object keyed by timestamp")
        series[metric] = values or {}
    return series


def xml_series(body: t.IO[bytes]) -> dict[str, dict[str, t.Any]]:
    """metric -> {timestamp: text} from `<result><metric><item timestamp=...>`.

    The document is parsed whole (a window's, see MAX_WINDOW_DAYS): walking it in C is
    several times faster than handling each element's events in Python."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(body.read(), parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"not well-formed XML ({exc})") from None
    series: dict[str, dict[str, t.Any]] = {}
    for element in root:  # a metric (or <error>) directly under <result>
        if element.tag == "error":
            raise ParseError(f"the API answered with an error: {element.text}")
        if isinstance(element.tag, str):
            series.setdefault(element.tag, {})
    for item in root.iter("item"):
        parent = item.getparent()
        if parent is None:
            continue
        stamp = item.get("timestamp")
        if stamp is None:
            raise ParseError(f"<{parent.tag}> has an <item> without a timestamp")
        series.setdefault(str(parent.tag), {})[stamp] = item.text
    return series


def unpivot(
    series: Mapping[str, Mapping[str, t.Any]], columns: Mapping[str, t.Any] | None = None
) -> Iterator[dict[str, t.Any]]:
    """One typed row per period from metric -> {timestamp: value}, oldest first, each
    starting with `columns` (the partition's).

    Each value is looked up by its own timestamp, so a metric (or a period) missing
    from the response leaves that cell null instead of shifting values between rows.
    Metrics this tap does not know are ignored.
    """
    by_stamp: dict[int, dict[str, t.Any]] = {}
    seconds_of: dict[str, int] = {}  # every metric repeats the same timestamps
    for metric, values in series.items():
        if metric not in METRICS:
            continue
        cast = CASTS[metric]
        for stamp, value in values.items():
            seconds = seconds_of.get(stamp)
            if seconds is None:
                seconds = seconds_of[stamp] = _unix_seconds(metric, stamp)
                by_stamp.setdefault(seconds, {})
            try:
                by_stamp[seconds][metric] = cast(value)
            except ParseError as exc:
                raise ParseError(f"{metric} at {stamp}: {exc}") from None
    empty = {**(columns or {}), "period_start": None, **dict.fromkeys(METRICS)}
    to_start = CASTS["period_start"]
    for seconds in sorted(by_stamp):
        row = {**empty, **by_stamp[seconds]}
        row["period_start"] = to_start(seconds)
        yield row


def _unix_seconds(metric: str, stamp: t.Any) -> int:
    try:
        seconds = to_int(stamp)
    except ParseError:
        seconds = None
    if seconds is None:
        raise ParseError(f"{metric}: {stamp!r} is not a Unix timestamp")
    return seconds


def parse_performance(
    body: t.IO[bytes], columns: Mapping[str, t.Any] | None = None
) -> Iterator[dict[str, t.Any]]:
    """Typed rows from a JSON or XML performance body, each starting with `columns`."""
    return unpivot(xml_series(body) if sniff_xml(body) else json_series(body), columns)


# Errors

_JSON_ERROR = re.compile(rb'^\s*\{\s*"error"\s*:')
_XML_ERROR = re.compile(rb"<result>\s*<error>(.*?)</error>", re.S)


def describe_error(status: int, body: bytes) -> str:
    """The vendor's message from `{"error": ...}` or `<result><error>`, whatever the type."""
    found = _XML_ERROR.search(body)
    if found:
        return html.unescape(found.group(1).decode("utf-8", "replace")).strip()[:300]
    text = body.decode("utf-8", "replace").strip()
    try:
        document = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text[:300]
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return document["error"][:300]
    return text[:300]


def check_body(head: bytes) -> None:
    """A 200 whose body is an error object is the vendor's refusal, not an empty report."""
    if _JSON_ERROR.match(head) or _XML_ERROR.search(head):
        raise PermanentError(f"the API answered with an error: {describe_error(200, head)}")


HINTS = {
    400: "The API refused the path parameter its message names (start and end are the "
    "window's dates as YYYYMMDD); check plumvoice.phones (a number of the account, or ALL) "
    "and plumvoice.period (day, week or month).",
    401: "Plum Voice credentials are temporary and expire 24 hours after their last use: "
    "renew them in VoiceTrends and update plumvoice.username and plumvoice.password.",
    404: "Check plumvoice.api_url; it should end in /api.",
    405: "The API refused the HTTP method. This tap sends GET, as the route is documented "
    "(the page's list of response codes says only POST is allowed, which contradicts it); "
    "report this to Plum Voice support.",
}


# The stream


class PerformanceStream(ReportStream):
    """VoiceTrends performance per phone number, one row per period."""

    max_window_days = MAX_WINDOW_DAYS

    def __init__(self, tap: Tap, vendor: VendorConfig, client: HttpClient) -> None:
        super().__init__(
            tap,
            vendor,
            client,
            name="plumvoice_performance",
            schema=SCHEMA,
            primary_keys=["phone", "period", "period_start"],
            replication_key="period_start",
        )
        self.auth = (str(vendor["username"]), str(vendor["password"]))
        self.period = str(vendor.get("period", "day"))
        self.accept = ACCEPT[str(vendor.get("format", "json"))]

    def account_partitions(self) -> list[dict] | None:
        """One per phone; the period is part of it so each grain keeps its own bookmark."""
        phones = self.vendor.get("phones") or [ALL_PHONES]
        return [{"phone": str(phone), "period": self.period} for phone in phones]

    def plan(self, context: dict) -> list[Window]:
        """From the period that holds the first day not yet extracted (minus the lookback).

        The bookmark is the last day extracted. When that day ends a period, the next
        run starts with the next period; when it does not (a week or month not over
        yet, or an end_date inside one), the next run starts at that period's first day
        and pulls it again whole.
        """
        first = resume_from(self.bookmark(context), self.start_date, self.vendor.lookback_days)
        return period_windows(first, self.end_date, self.period, self.max_window_days)

    def requests_ahead(self, context: dict) -> Iterator[Request]:
        for window in self.plan(context):
            yield self.request(context, window)

    def request(self, context: t.Mapping[str, t.Any], window: Window) -> Request:
        start, end = f"{window.start:%Y%m%d}", f"{window.end:%Y%m%d}"
        path = f"performance/{start}/{end}/{self.period}/{quote(context['phone'], safe='')}"
        return self.client.request(
            f"{self.vendor.api_url}/{path}",
            where=f"{self.where(context, window)} | start={start} end={end}",
            headers={"Accept": self.accept},
            auth=self.auth,
        )

    def extract_window(self, context: dict, window: Window) -> Iterator[dict]:
        request = self.request(context, window)
        with self.client.send(request) as body:
            try:
                yield from parse_performance(
                    body, {"phone": context["phone"], "period": self.period}
                )
            except ParseError as exc:
                raise ParseError(f"{request.where}: unreadable response ({exc}).") from None


def build_streams(tap: Tap, vendor: VendorConfig) -> list[Stream]:
    pacer = RateLimitPacer(
        int(vendor.get("requests_per_window", REQUESTS_PER_WINDOW)),
        float(vendor.get("window_seconds", WINDOW_SECONDS)),
        margin_seconds=SANDBOX_RESET_MARGIN_SECONDS if vendor.sandbox else RESET_MARGIN_SECONDS,
        name="Plum Voice",
    )
    client = HttpClient.for_vendor(
        vendor,
        "Plum Voice",
        VendorErrors(
            describe=describe_error,
            hint=lambda status: HINTS.get(status, ""),
            check_body=check_body,
            retry_after=pacer.retry_after,
        ),
        pacer=pacer,
    )
    return [PerformanceStream(tap, vendor, client)]


def validate(settings: Mapping[str, t.Any]) -> None:
    phones = settings.get("phones")
    if phones is not None and (
        not phones or any(not str(p).strip() or "/" in str(p) for p in phones)
    ):
        raise ConfigError(
            "plumvoice.phones", "a non-empty list of phone numbers (or ALL for all merged)"
        )


def default_end_date(now: dt.datetime, settings: t.Mapping[str, t.Any]) -> dt.date:
    """The last day that is over in every time zone: the account's may be any."""
    return latest_complete_day(now, LAST_TIME_ZONE)


VENDOR = Vendor(
    key="plumvoice",
    title="Plum Voice VoiceTrends API",
    api_url=API_URL,
    lookback_days=2,
    properties=(
        th.Property(
            "username", th.StringType, description="Temporary VoiceTrends login (basic auth)."
        ),
        th.Property(
            "password",
            th.StringType,
            secret=True,
            description="Temporary VoiceTrends password; expires 24 hours after its last use.",
        ),
        th.Property(
            "phones",
            th.ArrayType(th.StringType(min_length=1)),
            default=[ALL_PHONES],
            description="Phone numbers, one partition each; ALL is the merged view.",
        ),
        th.Property(
            "period",
            th.StringType(allowed_values=list(PERIODS)),
            default="day",
            description="Grouping of the report: day, week (from Monday) or month.",
        ),
        th.Property(
            "format",
            th.StringType(allowed_values=list(ACCEPT)),
            default="json",
            description="Response format asked for with Accept: json or xml.",
        ),
        th.Property(
            "requests_per_window",
            th.IntegerType(minimum=1),
            default=REQUESTS_PER_WINDOW,
            description="Rate limit until the API reports its own (X-RateLimit-Limit).",
        ),
        th.Property(
            "window_seconds",
            th.IntegerType(minimum=1),
            default=WINDOW_SECONDS,
            description="Length of a rate-limit window, in seconds.",
        ),
    ),
    secrets=("password",),
    login=("username", "password"),
    login_hint="temporary VoiceTrends login",
    build_streams=build_streams,
    validate=validate,
    default_end_date=default_end_date,
    max_concurrent_requests=4,
    partitioned_by="phone number",
)
