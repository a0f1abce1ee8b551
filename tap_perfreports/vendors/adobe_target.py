"""Adobe Test&Target Performance Report API (version 2): campaign performance as XML.

Three streams come from one response: `adobe_target_steps` (a count per success
metric), `adobe_target_recipes` (revenue per recipe; the recipe named "Campaign" is the
sample's summary, flagged `is_summary`) and `adobe_target_engagement`. Each is
partitioned by campaign, metric type and resolution: the report's `type` changes the
meaning of every count, so each type is its own request. One request per (campaign,
type, window) feeds all three streams (see `SharedReports`).

The documented example is not well-formed (a `</steps>` end tag, attributes with no
space between them). Bodies are repaired while streamed (`AttributeSpacer`) and parsed
with a recovering lxml pull parser; a warning names the campaign and window whenever
that was needed.

Windows are half-open: `end` is the first minute after the window (`2026-09-01T00:00`
for August), as Adobe's own examples write a month, so no minute of a window's last day
is left out. Requests are paced by a sliding window (`SlidingWindowPacer`, default 50 a
minute per account, the report APIs' throttle), and a throttled answer (HTTP 429, or an
`<error>` body whose code is 429 or whose message speaks of throttling or a request
limit) pauses every request for a window before the retry instead of failing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import tempfile
import typing as t
from html import unescape

import msgspec
from lxml import etree
from singer_sdk import typing as th

from tap_perfreports.casting import Cast, casts_for
from tap_perfreports.errors import ConfigError, ParseError, PermanentError, TransientError, reading
from tap_perfreports.http import HttpClient, VendorErrors
from tap_perfreports.pacing import TOO_MANY_REQUESTS, SlidingWindowPacer
from tap_perfreports.streams import ReportStream
from tap_perfreports.vendor import Vendor, VendorConfig
from tap_perfreports.windows import ONE_DAY, Window, plan_windows, resume_from

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from singer_sdk import Stream, Tap

    from tap_perfreports.fetch_ahead import Request

logger = logging.getLogger("tap_perfreports.adobe_target")

API_URL = "https://testandtarget.omniture.com/api"
RESOLUTIONS = ("hour", "day", "week", "month")
METRIC_TYPES = ("visit", "visitor", "impression")
SEGMENT_MODES = ("aggregate", "all")
#: segment_id of the aggregate report, which carries no segment attributes.
AGGREGATE_SEGMENT = "aggregate"
SUMMARY_RECIPE = "Campaign"
CHUNK_BYTES = 64 * 1024
#: Days per request by resolution: an hourly report holds 24 samples a day per recipe.
WINDOW_DAYS = {"hour": 2, "day": 31, "week": 91, "month": 366}
#: "Test&Target report APIs are throttled": 50 requests per minute, shared by the
#: account's campaign report APIs (a sibling report's page).
REQUESTS_PER_WINDOW = 50
WINDOW_SECONDS = 60

GRAIN = (
    th.Property("campaign_id", th.IntegerType, required=True),
    th.Property(
        "metric_type", th.StringType, required=True, description="visit, visitor or impression."
    ),
    th.Property(
        "segment_id",
        th.StringType,
        required=True,
        description=f'The segment\'s id, or "{AGGREGATE_SEGMENT}" for the report of all segments.',
    ),
    th.Property("segment_name", th.StringType, description="Null for the aggregate report."),
    th.Property(
        "sample_start",
        th.DateTimeType,
        required=True,
        description="Start of the sample (the API gives local time without offset; read as UTC).",
    ),
    th.Property("duration", th.StringType, required=True, description="hour, day, week or month."),
    th.Property("recipe_name", th.StringType, required=True),
)
GRAIN_KEYS = ["campaign_id", "metric_type", "segment_id", "sample_start", "duration", "recipe_name"]

STREAMS: dict[str, tuple[dict, list[str]]] = {
    "adobe_target_steps": (
        th.PropertiesList(
            *GRAIN,
            th.Property("step_name", th.StringType, required=True),
            th.Property(
                "step_position", th.IntegerType, description="1-based order in the recipe."
            ),
            th.Property("value", th.NumberType, description="Visits, visitors or impressions."),
        ).to_dict(),
        [*GRAIN_KEYS, "step_name"],
    ),
    "adobe_target_recipes": (
        th.PropertiesList(
            *GRAIN,
            th.Property("is_summary", th.BooleanType, description='The "Campaign" recipe.'),
            th.Property("amount", th.NumberType, description="Revenue."),
        ).to_dict(),
        GRAIN_KEYS,
    ),
    "adobe_target_engagement": (
        th.PropertiesList(
            *GRAIN,
            th.Property("step_name", th.StringType, required=True),
            th.Property("count", th.IntegerType),
            th.Property("total", th.NumberType),
            th.Property("sum_of_squares", th.NumberType),
        ).to_dict(),
        [*GRAIN_KEYS, "step_name"],
    ),
}
CASTS = {name: casts_for(schema) for name, (schema, _) in STREAMS.items()}
#: The columns every row of a recipe shares, and each stream's own columns.
GRAIN_NAMES = tuple(prop.name for prop in GRAIN)
GRAIN_CASTS = [(name, CASTS["adobe_target_recipes"][name]) for name in GRAIN_NAMES]
OWN_CASTS = {
    stream: [(name, cast) for name, cast in casts.items() if name not in GRAIN_NAMES]
    for stream, casts in CASTS.items()
}
#: Grain columns are required of every stream, and checked once per grain.
REQUIRED = {
    stream: [k for k in keys if k not in GRAIN_NAMES] for stream, (_, keys) in STREAMS.items()
}


# Windows


def report_windows(first: dt.date, end: dt.date, resolution: str) -> list[Window]:
    """Windows sized to the resolution; weeks (from Monday) and months are never split."""
    if resolution == "week":
        first -= dt.timedelta(days=first.weekday())
    elif resolution == "month":
        first = first.replace(day=1)
    if resolution != "month":
        return plan_windows(first, end, WINDOW_DAYS[resolution])
    windows = []
    while first <= end:
        following = first.replace(year=first.year + 1)
        windows.append(Window(first, min(following - ONE_DAY, end)))
        first = following
    return windows


def request_range(window: Window) -> list[tuple[str, str]]:
    """`start` and `end` of a window, half-open: `end` is the first minute after it, as
    Adobe writes a month (`start=2007-08-01T00:00&end=2007-09-01T00:00`)."""
    return [
        ("start", f"{window.start:%Y-%m-%d}T00:00"),
        ("end", f"{window.end + ONE_DAY:%Y-%m-%d}T00:00"),
    ]


# Parsing


class AttributeSpacer:
    """Inserts the space missing between attributes (`total="5"sumOfSquares=`), streamed.

    A recovering parser would silently drop the second attribute. Only complete tags
    are rewritten: the bytes after the last `>` wait for the next chunk.
    """

    _GLUED = re.compile(rb"""(=\s*(?:"[^"<>]*"|'[^'<>]*'))(?=[A-Za-z_:])""")

    def __init__(self) -> None:
        self.repairs = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk
        cut = data.rfind(b">") + 1
        self._tail = data[cut:]
        return self._fix(data[:cut])

    def flush(self) -> bytes:
        data, self._tail = self._tail, b""
        return self._fix(data)

    def _fix(self, data: bytes) -> bytes:
        fixed, count = self._GLUED.subn(rb"\1 ", data)
        self.repairs += count
        return fixed


Row = tuple[str, dict[str, t.Any]]


class ReportReader:
    """Rows of the three streams, as text, from a report body; memory stays per sample.

    `request` holds the `campaign_id` and `metric_type` asked for: they fill attributes
    a report leaves out, a report of another type is skipped (without `type` the API
    returns every type, and each type is its own partition), and a report of another
    campaign is a ParseError. After `rows()` is exhausted, `problems` lists what had to
    be repaired or recovered, and `skipped` the types of the reports skipped.
    """

    def __init__(self, chunks: Iterable[bytes], request: Mapping[str, str] | None = None) -> None:
        self.chunks = chunks
        self.request = dict(request or {})
        self.problems: list[str] = []
        self.skipped: list[str] = []

    def rows(self) -> Iterator[Row]:
        spacer = AttributeSpacer()
        parser = etree.XMLPullParser(
            events=("start", "end"), recover=True, resolve_entities=False, no_network=True
        )
        state: dict[str, t.Any] = {}
        try:
            for chunk in self.chunks:
                parser.feed(spacer.feed(chunk))
                yield from self._events(parser, state)
            parser.feed(spacer.flush())
            yield from self._events(parser, state)
            parser.close()  # recovery closes what is still open: its events are not read
        except etree.XMLSyntaxError as exc:
            raise ParseError(f"not XML ({exc})") from None
        root = state.get("root")
        if not root:
            raise ParseError("the body is empty, not a <reports> document")
        if not state.get("closed"):
            raise ParseError(f"the body ends before </{root}>: it was cut off")
        if spacer.repairs:
            self.problems.append(f"{spacer.repairs} attribute(s) without a separating space")
        errors = [
            entry for entry in parser.feed_error_log if entry.level >= etree.ErrorLevels.ERROR
        ]
        if any(entry.type == etree.ErrorTypes.ERR_DOCUMENT_END for entry in errors):
            # recovery stops at the root's end: whatever follows would be lost
            raise ParseError(f"content after </{root}>, which would be lost")
        if errors:
            self.problems.append(f"{len(errors)} XML error(s), first: {errors[0].message}")

    def _events(self, parser: etree.XMLPullParser, state: dict[str, t.Any]) -> Iterator[Row]:
        for event, item in parser.read_events():
            element = t.cast(etree._Element, item)
            if event == "start":
                self._start(element, state)
                continue
            if element.getparent() is None:
                state["closed"] = True
            row = self._end(element, state)
            if row is not None and not state.get("skipping"):
                yield row

    def _start(self, element: etree._Element, state: dict[str, t.Any]) -> None:
        """Remember the attributes every row below this element carries."""
        tag = element.tag
        if not state.get("root"):
            state["root"] = tag
            if tag not in ("reports", "report", "error"):
                raise ParseError(f"expected <reports>, found <{tag!s}>")
        if tag == "report":
            report = state["report"] = self._report(element)
            state["resolution"] = element.get("resolution")
            state["skipping"] = report["metric_type"] != self.request.get(
                "metric_type", report["metric_type"]
            )
            if state["skipping"]:
                self.skipped.append(str(report["metric_type"]))
        elif tag == "sample":
            state["sample"] = {
                **inside(state, "report", tag),
                "sample_start": element.get("start"),
                # the sample's duration is the report's resolution
                "duration": element.get("duration", state.get("resolution")),
            }
        elif tag == "recipe":
            state["recipe"] = {
                **inside(state, "sample", tag),
                "recipe_name": element.get("name"),
            }
            state["position"] = 0

    def _report(self, element: etree._Element) -> dict[str, t.Any]:
        campaign = element.get("campaignId", self.request.get("campaign_id"))
        asked = self.request.get("campaign_id", campaign)
        if (campaign or "").strip() != (asked or "").strip():
            raise ParseError(f"a report of campaignId={campaign} answers campaignId={asked}")
        return {
            "campaign_id": campaign,
            "metric_type": element.get("type", self.request.get("metric_type")),
            "segment_id": element.get("segmentId", AGGREGATE_SEGMENT),
            "segment_name": element.get("segments"),
        }

    @staticmethod
    def _end(element: etree._Element, state: dict[str, t.Any]) -> Row | None:
        """The row an element's end completes, if any (one at most)."""
        tag = element.tag
        if tag == "error":
            message, code = element.findtext("message"), element.findtext("code")
            raise ParseError(f"the API answered with error {code}: {message}")
        if tag in ("step", "steps"):  # `</steps>` closes a step in the documented example
            grain = inside(state, "recipe", tag)
            state["position"] += 1
            step = {"step_name": element.get("name"), "step_position": state["position"]}
            return "adobe_target_steps", {**grain, **step, "value": element.text}
        elif tag == "engagement":
            engagement = {
                "step_name": element.get("stepName"),
                "count": element.get("count"),
                "total": element.get("total"),
                "sum_of_squares": element.get("sumOfSquares"),
            }
            return "adobe_target_engagement", {**inside(state, "recipe", tag), **engagement}
        elif tag == "recipe":
            grain = state.pop("recipe")
            recipe = {
                "is_summary": grain["recipe_name"] == SUMMARY_RECIPE,
                "amount": element.findtext("amount"),
            }
            return "adobe_target_recipes", {**grain, **recipe}
        if tag in ("sample", "report"):
            state.pop(str(tag), None)
            element.clear()
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
        return None


def inside(state: Mapping[str, t.Any], parent: str, tag: object) -> dict[str, t.Any]:
    """The attributes of the enclosing element; an element out of place is a ParseError."""
    if parent not in state:
        raise ParseError(f"<{tag!s}> outside a <{parent}>")
    return t.cast(dict[str, t.Any], state[parent])


def typed(stream: str, row: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A row cast to its stream's schema; a value that is not its type is a ParseError.

    A recipe's rows share their grain (a dozen rows per recipe), so it is cast once."""
    out = _typed(OWN_CASTS[stream], row, dict(_typed_grain(tuple(map(row.get, GRAIN_NAMES)))))
    for name in REQUIRED[stream]:
        if out.get(name) is None:
            raise ParseError(f"{stream}: {name} is missing in {row!r}")
    return out


@functools.lru_cache(maxsize=1024)
def _typed_grain(values: tuple[t.Any, ...]) -> dict[str, t.Any]:
    """The grain columns cast (read only: `typed` copies it)."""
    grain = _typed(GRAIN_CASTS, dict(zip(GRAIN_NAMES, values, strict=True)), {})
    for name in GRAIN_KEYS:
        if grain.get(name) is None:
            raise ParseError(f"{name} is missing in {grain!r}")
    return grain


def _typed(
    casts: list[tuple[str, Cast]], row: Mapping[str, t.Any], out: dict[str, t.Any]
) -> dict[str, t.Any]:
    """`out` with the columns of `casts` that `row` has, cast (text stripped first)."""
    name = ""
    try:
        for name, cast in casts:
            if name in row:
                value = row[name]
                out[name] = cast(value.strip() if type(value) is str else value)
    except ParseError as exc:
        raise ParseError(f"{name}: {exc}") from None
    return out


def read_chunks(body: t.IO[bytes]) -> Iterator[bytes]:
    while chunk := body.read(CHUNK_BYTES):
        yield chunk


# Errors

_ERROR_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?<error[\s>]")
_ERROR_MESSAGE = re.compile(rb"<message>(.*?)</message>", re.S)
_ERROR_CODE = re.compile(rb"<code>\s*(\d+)\s*</code>")

HINTS = {
    400: "The API refused a parameter: check adobe_target.environment, resolution and "
    "metric_types.",
    401: "Check client, email and password (adobe_target.client, adobe_target.email, "
    "adobe_target.password).",
    403: "The login may not read this campaign: check adobe_target.campaign_ids and the "
    "user's rights in Test&Target.",
    404: "Check adobe_target.campaign_ids (the campaignDescriptionId of each campaign) and "
    "adobe_target.api_url.",
}


#: How a throttled request may be answered is undocumented: an `<error>` message that says
#: so, in words like these.
_THROTTLE_WORDS = re.compile(
    r"throttl|rate[ -]?limit|too many requests|request limit|requests (?:per|a) minute|quota",
    re.IGNORECASE,
)


def is_throttle(code: int | None, message: str) -> bool:
    """Whether an `<error>` says the request was refused for the account's request rate."""
    return code == TOO_MANY_REQUESTS or bool(_THROTTLE_WORDS.search(message))


def throttle_error(
    code: int | None, message: str, pacer: SlidingWindowPacer | None, status: int = 200
) -> TransientError:
    """A throttled answer: every request pauses for a window, then this one is retried
    (a status the pacer knows as a throttle has paused it already)."""
    wait = None
    if pacer is not None:
        wait = pacer.paused_for() if status in pacer.throttle_statuses else pacer.throttled()
    code_text = "" if code is None else f" (code {code})"
    return TransientError(f"the API throttled the request: {message}{code_text}", wait_seconds=wait)


def vendor_error(body: bytes) -> tuple[int | None, str] | None:
    """(code, message) from a documented `<error>` body (children in any order), else None."""
    if not _ERROR_ROOT.match(body):
        return None
    message = _ERROR_MESSAGE.search(body)
    code = _ERROR_CODE.search(body)
    text = unescape(message.group(1).decode("utf-8", "replace")).strip()[:300] if message else ""
    return (int(code.group(1)) if code else None), text


def describe_error(status: int, body: bytes, pacer: SlidingWindowPacer | None = None) -> str:
    """The message of an HTTP error; when the body's `<code>` is another error than the
    status (a 401 login error under HTTP 500), the body's code decides whether to retry,
    and a body that says the request was throttled makes it a throttle wait.
    """
    error = vendor_error(body)
    if error is None:
        return body.decode("utf-8", "replace").strip()[:300]
    code, message = error
    if is_throttle(code, message):
        raise throttle_error(code, message, pacer, status)
    if code is not None and code >= 400 and code != status:
        check_body(body, pacer)
    return message if code is None else f"{message} (code {code})"


def hint(status: int) -> str:
    return HINTS.get(status, "")


def check_body(head: bytes, pacer: SlidingWindowPacer | None = None) -> None:
    """An `<error>` body is an error whatever the HTTP status: its code decides, unless
    it says the request was throttled (then `pacer` pauses every request for a window)."""
    error = vendor_error(head)
    if error is None:
        return
    code, message = error
    if is_throttle(code, message):
        raise throttle_error(code, message, pacer)
    text = f"the API answered with error {code}: {message}"
    if code is None:
        raise PermanentError(f"the API answered with an error: {message}")
    if code >= 500:
        raise TransientError(text)
    raise PermanentError(text, hint=hint(code))


# Streams


class SharedReports:
    """Fetches each (campaign, type, window) once and hands every stream its rows.

    The first of the three streams to need a window fetches it, yields its own rows and
    appends the other selected streams' rows to one temporary file per stream, indexed
    by request; those streams read them back instead of asking again. Memory stays
    bounded whatever the number of windows pending.
    """

    def __init__(self) -> None:
        self.streams: list[AdobeTargetStream] = []
        self._files: dict[str, t.IO[bytes]] = {}
        self._index: dict[str, dict[tuple, tuple[int, int]]] = {}
        #: Streams that have synced: nothing is kept for them any more.
        self._done: set[str] = set()

    def stored(self, stream: str, key: tuple) -> bool:
        """Whether another stream's request already kept `stream`'s rows of `key`."""
        return key in self._index.get(stream, {})

    def rows(self, stream: str, key: tuple, fetch: Callable[[], Iterator[Row]]) -> Iterator[dict]:
        stored = self._index.get(stream, {}).pop(key, None)
        if stored is not None:
            yield from self._read(stream, *stored)
            return
        others = {
            s.name
            for s in self.streams
            if s.selected
            and s.name != stream
            and s.name not in self._done
            and key not in self._index.get(s.name, {})
        }
        starts = {name: self._file(name).seek(0, 2) for name in others}
        for name, row in fetch():
            if name == stream:
                yield row
            elif name in others:
                self._files[name].write(msgspec.json.encode(row) + b"\n")
        for name in others:
            self._index.setdefault(name, {})[key] = (starts[name], self._files[name].tell())

    def done(self, stream: str) -> None:
        """`stream` has synced: its file is closed and no more rows are kept for it."""
        self._done.add(stream)
        self._index.pop(stream, None)
        spool = self._files.pop(stream, None)
        if spool is not None:
            spool.close()

    def close(self) -> None:
        """The run stopped part-way: every file is closed."""
        for stream in list(self._files):
            self.done(stream)

    def _file(self, stream: str) -> t.IO[bytes]:
        if stream not in self._files:
            self._files[stream] = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the run
        return self._files[stream]

    def _read(self, stream: str, start: int, end: int) -> Iterator[dict]:
        spool = self._files[stream]
        spool.seek(start)
        left = end - start
        while left > 0:
            line = spool.readline()
            left -= len(line)
            yield msgspec.json.decode(line)


class AdobeTargetStream(ReportStream):
    """One of the three views of the performance report."""

    def __init__(
        self, tap: Tap, vendor: VendorConfig, name: str, client: HttpClient, shared: SharedReports
    ) -> None:
        schema, keys = STREAMS[name]
        super().__init__(
            tap,
            vendor,
            client,
            name=name,
            schema=schema,
            primary_keys=keys,
            replication_key="sample_start",
        )
        self.shared = shared
        self.resolution = str(vendor.get("resolution", "day"))
        self.max_window_days = WINDOW_DAYS[self.resolution]

    def account_partitions(self) -> list[dict] | None:
        """Campaign x metric type, and the sample duration (the resolution) so that each
        grain keeps its own bookmark. Context keys are record columns: the SDK copies the
        context into every record.
        """
        return [
            {
                "campaign_id": int(campaign),
                "metric_type": metric_type,
                "duration": self.resolution,
            }
            for campaign in self.vendor["campaign_ids"]
            for metric_type in self.vendor.get("metric_types", list(METRIC_TYPES))
        ]

    def plan(self, context: dict) -> list[Window]:
        first = resume_from(self.bookmark(context), self.start_date, self.vendor.lookback_days)
        return report_windows(first, self.end_date, self.resolution)

    def params(self, context: Mapping[str, t.Any], window: Window) -> list[tuple[str, str | int]]:
        vendor = self.vendor
        params: list[tuple[str, str | int]] = [
            ("client", str(vendor["client"])),
            ("email", str(vendor["email"])),
            ("password", str(vendor["password"])),
            ("operation", "report"),
            ("version", 2),
            ("campaignId", context["campaign_id"]),
            ("type", context["metric_type"]),
            *request_range(window),
            ("environment", str(vendor.get("environment", "Production"))),
            ("resolution", self.resolution),
        ]
        if vendor.get("segments", "aggregate") == "all":
            params.append(("segment", "allSegments"))
        for name, setting in (
            ("includeDeletedReportRows", "include_deleted_rows"),
            ("filterExtremeOrders", "filter_extreme_orders"),
        ):
            params.append((name, "true" if vendor.get(setting, False) else "false"))
        return params

    def requests_ahead(self, context: dict) -> Iterator[Request]:
        """Each window's request, unless another stream's request brought its rows."""
        for window in self.plan(context):
            if not self.shared.stored(self.name, self.report_key(context, window)):
                yield self.request(context, window)

    @staticmethod
    def report_key(context: Mapping[str, t.Any], window: Window) -> tuple:
        return (context["campaign_id"], context["metric_type"], window.start, window.end)

    def request(self, context: Mapping[str, t.Any], window: Window) -> Request:
        return self.client.request(
            self.vendor.api_url,
            where=self.where(context, window),
            params=self.params(context, window),
        )

    def extract_window(self, context: dict, window: Window) -> Iterator[dict]:
        key = self.report_key(context, window)
        return self.shared.rows(self.name, key, lambda: self.fetch(context, window))

    def after_sync(self) -> None:
        self.shared.done(self.name)

    def on_sync_stopped(self, *, writing_messages: bool) -> None:
        super().on_sync_stopped(writing_messages=writing_messages)
        self.shared.close()

    def fetch(self, context: dict, window: Window) -> Iterator[Row]:
        """Every stream's typed rows of one request."""
        request = self.request(context, window)
        where = request.where
        with self.client.send(request) as body:
            asked = {
                "campaign_id": str(context["campaign_id"]),
                "metric_type": context["metric_type"],
            }
            reader = ReportReader(read_chunks(body), asked)
            with reading(where):
                for stream, row in reader.rows():
                    yield stream, typed(stream, row)
            if reader.problems:
                logger.warning(
                    "%s: the response was not well-formed XML; recovered (%s).",
                    where,
                    "; ".join(reader.problems),
                )
            if reader.skipped:
                logger.warning(
                    "%s: skipped %d report(s) of another type (%s); each type is its own request.",
                    where,
                    len(reader.skipped),
                    ", ".join(sorted(set(reader.skipped))),
                )


def pacer_for(vendor: VendorConfig) -> SlidingWindowPacer:
    """The account's pacer, shared by its three streams and every request fetched ahead."""
    return SlidingWindowPacer(
        int(vendor.get("requests_per_window", REQUESTS_PER_WINDOW)),
        float(vendor.get("window_seconds", WINDOW_SECONDS)),
        name="Adobe Target",
    )


def build_streams(tap: Tap, vendor: VendorConfig) -> list[Stream]:
    pacer = pacer_for(vendor)
    client = HttpClient.for_vendor(
        vendor,
        "Adobe Target",
        VendorErrors(
            describe=functools.partial(describe_error, pacer=pacer),
            hint=hint,
            check_body=functools.partial(check_body, pacer=pacer),
            retry_after=pacer.retry_after,
        ),
        pacer=pacer,
    )
    shared = SharedReports()
    shared.streams = [AdobeTargetStream(tap, vendor, name, client, shared) for name in STREAMS]
    return list(shared.streams)


def validate(settings: Mapping[str, t.Any]) -> None:
    if not settings.get("campaign_ids"):
        raise ConfigError("adobe_target.campaign_ids", "required, a list of campaign ids")


VENDOR = Vendor(
    key="adobe_target",
    title="Adobe Test&Target Performance Report API",
    api_url=API_URL,
    lookback_days=3,
    properties=(
        th.Property("client", th.StringType, description="The T&T client name."),
        th.Property("email", th.StringType, description="Email of the T&T user."),
        th.Property(
            "password",
            th.StringType,
            secret=True,
            description="The T&T user's password (sent in the query string; never logged).",
        ),
        th.Property(
            "campaign_ids",
            th.ArrayType(th.IntegerType(minimum=1)),
            description="Campaigns to extract (campaignDescriptionId), one partition each.",
        ),
        th.Property(
            "environment",
            th.StringType(min_length=1),
            default="Production",
            description="Host group name, as defined in the T&T Tool.",
        ),
        th.Property(
            "resolution",
            th.StringType(allowed_values=list(RESOLUTIONS)),
            default="day",
            description="Sample length: hour, day, week (from Monday) or month.",
        ),
        th.Property(
            "metric_types",
            th.ArrayType(th.StringType(allowed_values=list(METRIC_TYPES))),
            default=list(METRIC_TYPES),
            description="Report types, one request each: visit, visitor, impression.",
        ),
        th.Property(
            "segments",
            th.StringType(allowed_values=list(SEGMENT_MODES)),
            default="aggregate",
            description="aggregate (all segments together) or all (each segment, and the "
            "aggregate).",
        ),
        th.Property(
            "include_deleted_rows",
            th.BooleanType,
            default=False,
            description="Include experiences deleted since (includeDeletedReportRows).",
        ),
        th.Property(
            "filter_extreme_orders",
            th.BooleanType,
            default=False,
            description="Exclude extreme orders from revenue (filterExtremeOrders).",
        ),
        th.Property(
            "requests_per_window",
            th.IntegerType(minimum=1),
            default=REQUESTS_PER_WINDOW,
            description="Report requests sent per window_seconds at most, for the account "
            "(its report APIs are throttled at 50 a minute, shared with its other "
            "campaign report APIs).",
        ),
        th.Property(
            "window_seconds",
            th.IntegerType(minimum=1),
            default=WINDOW_SECONDS,
            description="Length of the throttle's window, in seconds.",
        ),
    ),
    secrets=("password",),
    login=("client", "email", "password"),
    login_hint="the Test&Target login",
    build_streams=build_streams,
    validate=validate,
    max_concurrent_requests=4,
    partitioned_by="campaign and metric type",
)
