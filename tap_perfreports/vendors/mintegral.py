"""Mintegral Advanced Performance Reporting: asynchronous report jobs, downloaded as TSV.

Each configured report is a stream `mintegral_<name>` (one account, no partitions). A
report is asked for in windows of at most 7 days: `type=1` submits a window's job and
polls it until the API says it is generated, `type=2` downloads the TSV. Jobs run in a
pipeline: up to `max_concurrent_jobs` windows are generated at once and each is
downloaded as soon as it is ready, while records still leave in window order so the
bookmark stays correct. In-flight jobs are kept in the state, so a killed run resumes
polling them. A window that the API calls incomplete (`is_complete: false`, e.g. one
holding today) is emitted, but the bookmark stops at its last complete day, so the
next run pulls it again and the primary key upserts the rows.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
import time
import typing as t
from collections import deque
from dataclasses import dataclass

from singer_sdk import typing as th

from tap_perfreports import clock
from tap_perfreports.casting import Cast, cast_for, snake_case, to_bool, to_int
from tap_perfreports.errors import (
    ConfigError,
    ParseError,
    ReconciliationFailed,
    RequestFailed,
    TapPerfReportsError,
    reading,
)
from tap_perfreports.http import Backoff, HttpClient, VendorErrors
from tap_perfreports.reconcile import Rule
from tap_perfreports.streams import ReportStream
from tap_perfreports.vendor import Vendor, VendorConfig
from tap_perfreports.windows import ONE_DAY, Window, plan_windows, resume_from

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Stream, Tap

API_URL = "https://ss-api.mintegral.com/api/v2"
ROUTE = "reports/data"
#: The API's longest request: "The end and start time spans no more than 7 days".
MAX_WINDOW_DAYS = 7
#: "Only supports querying the data of the last half year": 180 days stays inside it.
HALF_YEAR_DAYS = 180
#: When a day's data is ready, after the day ends in the report timezone. Our page said
#: "about 1.5 hours after the day"; a newer version says a day's data takes 2-4 hours
#: (pull after 03:00 the next day) and hourly data 2-3 hours (pull 2.5 hours after the
#: hour, read here as after the hour ends: the day's last hour is ready at 02:30).
#: `is_complete` stays the authority; these only set the default end date, and which
#: days count as final when the API does not say.
READY_AFTER = {
    "daily": dt.timedelta(hours=3),
    "hourly": dt.timedelta(hours=2, minutes=30),
}
DEFAULT_TIMEZONE = "+8"
#: A 203 on download means the job is unknown; resubmitting more often than this is a loop.
MAX_RESUBMITS = 3
#: A window the API calls complete holds 24 hours of each of its days: its answer's
#: `hours` is the sum of 24 over the days (`reconcile_window`, a sum rule over one row
#: per day).
COMPLETE_HOURS = (Rule("hours", label="24 hours per day of a complete window"),)
#: Read only in sandbox mode: freezes the tap's clock (ISO date-time with offset).

# Columns

#: Documented dimension -> its TSV columns; the first one identifies the value (the key).
DIMENSION_COLUMNS: dict[str, tuple[str, ...]] = {
    "Offer": ("offer_id", "offer_uuid", "offer_name"),
    "Campaign": ("campaign_id",),
    "CampaignPackage": ("campaign_package",),
    "Creative": ("creative_id", "creative_name"),
    "AdType": ("ad_type",),
    "Sub": ("sub_id",),
    "Package": ("package_name",),
    "Location": ("location",),
    "Endcard": ("endcard_id", "endcard_name"),
    "AdOutputType": ("ad_output_type",),
}
DIMENSIONS = tuple(DIMENSION_COLUMNS)
METRIC_COLUMNS = ("impression", "click", "conversion", "ecpm", "cpc", "ctr", "cvr", "ivr", "spend")
_INTEGER = {"type": ["integer", "null"]}
_NUMBER = {"type": ["number", "null"]}
_STRING = {"type": ["string", "null"]}
#: Every documented header as its snake_case column, typed as documented
#: (int and bigint: integer; Double: number; `Date` 20220418: a date).
COLUMN_SCHEMAS: dict[str, dict] = {
    "date": {"type": ["string"], "format": "date"},
    "timestamp": _INTEGER,
    "offer_id": _INTEGER,
    "offer_uuid": _STRING,
    "offer_name": _STRING,
    "campaign_id": _INTEGER,
    "campaign_package": _STRING,
    "creative_id": _INTEGER,
    "creative_name": _STRING,
    "ad_type": _STRING,
    "sub_id": _STRING,
    "package_name": _STRING,
    "location": _STRING,
    "endcard_id": _INTEGER,
    "endcard_name": _STRING,
    "ad_output_type": _STRING,
    "currency": _STRING,
    **dict.fromkeys(("impression", "click", "conversion"), _INTEGER),
    **dict.fromkeys(("ecpm", "cpc", "ctr", "cvr", "ivr", "spend"), _NUMBER),
}

#: Combinations the documentation forbids, as (dimension, what it cannot go with).
FORBIDDEN_PAIRS = (
    ("Creative", "Sub"),
    ("Creative", "Package"),
    ("Endcard", "Sub"),
    ("Endcard", "Package"),
)
NOT_HOURLY = ("Creative", "Endcard")

DEFAULT_REPORTS: tuple[dict[str, t.Any], ...] = (
    {
        "name": "performance",
        "dimensions": ["Offer", "Campaign", "Location"],
        "time_granularity": "daily",
    },
)


# Pure functions: auth, clock, windows, codes, polling


def mintegral_token(api_key: str, timestamp: int) -> str:
    """The `token` header: md5(api_key + md5(timestamp)), lowercase hex digests."""
    inner = hashlib.md5(str(timestamp).encode()).hexdigest()
    return hashlib.md5((api_key + inner).encode()).hexdigest()


def auth_headers(access_key: str, api_key: str, timestamp: int) -> dict[str, str]:
    """The three headers every request carries; time-bound, so built for each attempt."""
    return {
        "access-key": access_key,
        "timestamp": str(timestamp),
        "token": mintegral_token(api_key, timestamp),
    }


_OFFSET = re.compile(r"[+-]?\d{1,2}(\.5)?")


def parse_timezone(text: str) -> dt.timezone:
    """The API's `timezone` (hours east of UTC: `+8`, `-5`, `+5.5`) as a tzinfo."""
    if not _OFFSET.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not an offset such as +8 or -5")
    hours = float(text)
    if not -12 <= hours <= 14:
        raise ValueError(f"{text!r} is outside -12..+14")
    return dt.timezone(dt.timedelta(hours=hours))


def latest_complete_day(now: dt.datetime, tz: dt.tzinfo, granularity: str = "daily") -> dt.date:
    """The last day in `tz` whose `granularity` data is ready at `now` (`READY_AFTER`)."""
    return (now.astimezone(tz) - READY_AFTER[granularity]).date() - ONE_DAY


def ready_at(day: dt.date, tz: dt.tzinfo, granularity: str = "daily") -> dt.datetime:
    """When `day`'s `granularity` data is ready: 03:00 (daily) or 02:30 (hourly) the next
    day in the report timezone. What a schedule should wait for."""
    return dt.datetime.combine(day + ONE_DAY, dt.time(), tz) + READY_AFTER[granularity]


def earliest_available_day(now: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The oldest day the API still serves ("the last half year"), with a safe margin."""
    return now.astimezone(tz).date() - dt.timedelta(days=HALF_YEAR_DAYS)


def plan_jobs(
    start: dt.date,
    end: dt.date,
    earliest: dt.date,
    resumed: Iterable[Window] = (),
    max_days: int = MAX_WINDOW_DAYS,
) -> tuple[list[Window], Window | None]:
    """The windows covering [start, end], and the days skipped as older than `earliest`.

    Windows still in flight from a killed run (`resumed`) are kept as they were, so the
    same request polls the same job; the days around them are split afresh.
    """
    skipped = Window(start, min(end, earliest - ONE_DAY)) if start < earliest else None
    start = max(start, earliest)
    windows: list[Window] = []
    cursor = start
    for window in sorted(set(resumed)):
        if window.start < cursor or window.end > end or window.days > max_days:
            continue
        windows += plan_windows(cursor, window.start - ONE_DAY, max_days)
        windows.append(window)
        cursor = window.end + ONE_DAY
    windows += plan_windows(cursor, end, max_days)
    return windows, skipped


class Action(enum.Enum):
    """What a response code asks the client to do next."""

    READY = "download"
    WAIT = "wait and poll again"
    RESUBMIT = "submit again with type=1"
    FAIL = "fail"


#: Every documented code: 200 generated; 201 received, 202 generating, 204 not yet
#: generated, 205 expired and regenerating: wait; 203 unknown request: resubmit;
#: 10000 parameter error or no permission. Any other code fails with its message.
CODE_ACTIONS = {
    200: Action.READY,
    201: Action.WAIT,
    202: Action.WAIT,
    203: Action.RESUBMIT,
    204: Action.WAIT,
    205: Action.WAIT,
    10000: Action.FAIL,
}


def action_for(code: int) -> Action:
    return CODE_ACTIONS.get(code, Action.FAIL)


#: Waits between polls of one job: short at first, growing, capped.
POLLS = Backoff(first_seconds=5.0, factor=1.5, cap_seconds=60.0)
SANDBOX_POLLS = Backoff(first_seconds=0.1, factor=1.5, cap_seconds=1.0)


@dataclass(frozen=True)
class Answer:
    """A JSON answer of the API: its code, message, and generation information."""

    code: int
    message: str
    hours: int | None = None
    is_complete: bool | None = None


def parse_answer(body: bytes) -> Answer:
    """Read `{"code": ..., "msg": ..., "data": {"hours": ..., "is_complete": ...}}`.

    The field table lists `hours` and `is_complete` beside `data`, the example inside
    it: both places are read.
    """
    try:
        payload = json.loads(body)
    except ValueError:
        raise ParseError("the answer is not JSON") from None
    if not isinstance(payload, dict) or "code" not in payload:
        raise ParseError("the answer has no code")
    code = to_int(payload["code"])
    if code is None:
        raise ParseError("the answer's code is empty")
    data = payload.get("data")
    info = data if isinstance(data, dict) else {}
    message = str(payload.get("msg") or "").strip()
    if isinstance(data, str) and data.strip() and data.strip() != message:
        message = f"{message}: {data.strip()}" if message else data.strip()
    return Answer(
        code=code,
        message=message,
        hours=to_int(info.get("hours", payload.get("hours"))),
        is_complete=to_bool(info.get("is_complete", payload.get("is_complete"))),
    )


def last_complete_day(window: Window, answer: Answer, latest_complete: dt.date) -> dt.date:
    """The last day of `window` whose data is final (`window.start - 1` if none is).

    A complete window is final to its end. An incomplete one is final up to the account
    clock's latest complete day, never including the window's own last day (the API
    says something in it is missing), and no further than its `hours` cover whole days.
    With no `is_complete` at all, the clock decides.
    """
    if answer.is_complete:
        return window.end
    bounds = [window.end, latest_complete]
    if answer.is_complete is False:
        bounds.append(window.end - ONE_DAY)
        if answer.hours is not None:
            bounds.append(window.start + dt.timedelta(days=answer.hours // 24) - ONE_DAY)
    return max(window.start - ONE_DAY, min(bounds))


# Reports and their TSV


@dataclass(frozen=True)
class MintegralReport:
    """One configured report: its dimensions (documented order) and granularity."""

    name: str
    dimensions: tuple[str, ...]
    granularity: str = "daily"

    @classmethod
    def from_spec(cls, spec: t.Mapping[str, t.Any]) -> MintegralReport:
        wanted = set(spec.get("dimensions") or ())
        return cls(
            name=str(spec["name"]),
            dimensions=tuple(d for d in DIMENSIONS if d in wanted),
            granularity=str(spec.get("time_granularity") or "daily"),
        )

    @property
    def hourly(self) -> bool:
        return self.granularity == "hourly"

    @property
    def key_columns(self) -> list[str]:
        """The grain: each dimension's identifying column, then currency."""
        return [DIMENSION_COLUMNS[d][0] for d in self.dimensions] + ["currency"]

    def primary_keys(self) -> list[str]:
        return ["date", *(["timestamp"] if self.hourly else []), *self.key_columns]

    def columns(self) -> list[str]:
        dimension_columns = [c for d in self.dimensions for c in DIMENSION_COLUMNS[d]]
        times = ["timestamp"] if self.hourly else []
        return ["date", *times, *dimension_columns, "currency", *METRIC_COLUMNS]

    def schema(self) -> dict:
        properties = {}
        for column in self.columns():
            prop = COLUMN_SCHEMAS[column]
            if column in self.primary_keys():
                prop = {**prop, "type": [kind for kind in prop["type"] if kind != "null"]}
            properties[column] = prop
        return {"type": "object", "properties": properties}

    def params(self, window: Window, timezone: str, kind: int) -> list[tuple[str, str | int]]:
        """Query of one request: the same window and report always name the same job."""
        return [
            ("start_time", window.start.isoformat()),
            ("end_time", window.end.isoformat()),
            ("type", kind),
            ("dimension_option", ",".join(self.dimensions)),
            ("time_granularity", self.granularity),
            ("timezone", timezone),
        ]


def key_defaults(report: MintegralReport) -> dict[str, t.Any]:
    """Fixed values for key columns the API leaves blank: '' for text, 0 for ids."""
    return {
        column: 0 if COLUMN_SCHEMAS[column] is _INTEGER else "" for column in report.key_columns
    }


def parse_tsv(
    lines: Iterable[bytes],
    report: MintegralReport,
    on_unknown: t.Callable[[list[str]], None] = lambda headers: None,
) -> Iterator[dict[str, t.Any]]:
    """Typed records from a TSV download, one line at a time.

    Headers become snake_case columns; columns the report does not have are passed to
    `on_unknown` and dropped. A blank key value becomes its fixed default.
    """
    rows = iter(lines)
    first = next(rows, None)
    if first is None or not first.strip():
        return
    headers = _text(first.decode, "utf-8-sig", 1).rstrip("\r\n").split("\t")
    columns = [snake_case(header) for header in headers]
    casts: dict[str, Cast] = {
        c: cast_for(COLUMN_SCHEMAS[c]) for c in report.columns() if c in COLUMN_SCHEMAS
    }
    required = ["date", *(["timestamp"] if report.hourly else []), *report.key_columns]
    missing = [c for c in required if c not in columns]
    if missing:
        raise ParseError(f"the TSV has no column {missing[0]!r} (header: {headers})")
    unknown = [h for h, c in zip(headers, columns, strict=True) if c not in casts]
    if unknown:
        on_unknown(unknown)
    defaults = key_defaults(report)
    empty = dict.fromkeys(report.columns())
    for number, raw in enumerate(rows, start=2):
        text = _text(raw.decode, "utf-8", number).rstrip("\r\n")
        if not text.strip():
            continue
        values = text.split("\t")
        if len(values) != len(columns):
            raise ParseError(f"line {number} has {len(values)} fields, the header {len(columns)}")
        try:
            record = {**empty, **typed_values(columns, values, casts)}
        except ParseError as exc:
            raise ParseError(f"line {number}: {exc}") from None
        for column, default in defaults.items():
            if record[column] is None:
                record[column] = default
        if record["date"] is None:
            raise ParseError(f"line {number} has no Date")
        if report.hourly and record["timestamp"] is None:
            raise ParseError(f"line {number} has no Timestamp")
        yield record


def _text(decode: t.Callable[[str], str], encoding: str, number: int) -> str:
    try:
        return decode(encoding)
    except UnicodeDecodeError as exc:
        raise ParseError(f"line {number} is not UTF-8 text ({exc.reason})") from None


def typed_values(
    columns: list[str], values: list[str], casts: t.Mapping[str, Cast]
) -> dict[str, t.Any]:
    """One TSV line's known columns, each cast to its schema type."""
    return {
        column: casts[column](value)
        for column, value in zip(columns, values, strict=True)
        if column in casts
    }


# Errors


def describe_error(status: int, body: bytes) -> str:
    """The `msg` of a JSON error body, else its text."""
    try:
        return parse_answer(body).message or f"code {parse_answer(body).code}"
    except ParseError:
        return body.decode("utf-8", "replace").strip()[:300]


HINTS = {
    401: "Check mintegral.access_key and mintegral.api_key; the token is time-bound, so "
    "also check that this machine's clock is right.",
    403: "The access key may not read this report; ask your Mintegral account manager.",
}


# Streams


@dataclass
class Job:
    """One window's report job, as this run sees it."""

    window: Window
    #: When the job was first submitted (UTC ISO), kept in the state while in flight.
    submitted_at: str
    #: When this run began polling it (monotonic): the poll timeout counts from here.
    started: float
    next_poll: float = 0.0
    polls: int = 0
    resubmits: int = 0
    last: Answer | None = None
    #: The 200 answer whose data was downloaded: `hours` and `is_complete`.
    ready: Answer | None = None
    body: t.IO[bytes] | None = None
    error: TapPerfReportsError | None = None

    @property
    def settled(self) -> bool:
        return self.body is not None or self.error is not None

    def close(self) -> None:
        if self.body is not None:
            self.body.close()
            self.body = None


class MintegralAccount:
    """The account shared by every report: credentials, clock, HTTP client, job limits."""

    def __init__(self, vendor: VendorConfig) -> None:
        self.vendor = vendor
        self.access_key = str(vendor["access_key"])
        self.api_key = str(vendor["api_key"])
        self.timezone = str(vendor.get("timezone", DEFAULT_TIMEZONE))
        self.tz = parse_timezone(self.timezone)
        self.max_jobs = int(vendor.get("max_concurrent_jobs", 4))
        self.poll_timeout = int(vendor.get("poll_timeout_seconds", 3600))
        self.polls = SANDBOX_POLLS if vendor.sandbox else POLLS
        self.url = f"{vendor.api_url}/{ROUTE}"
        self.client = HttpClient.for_vendor(
            vendor,
            "Mintegral",
            VendorErrors(describe=describe_error, hint=lambda s: HINTS.get(s, "")),
        )

    def now(self) -> dt.datetime:
        """The account clock; in sandbox mode `TAP_PERFREPORTS_SANDBOX_NOW` may freeze it."""
        return clock.now(sandbox=self.vendor.sandbox)

    def headers(self) -> dict[str, str]:
        """Fresh for every attempt: the token is bound to the real current time."""
        return auth_headers(self.access_key, self.api_key, int(time.time()))

    def get(self, where: str, params: list[tuple[str, str | int]]) -> t.IO[bytes]:
        return self.client.fetch(self.url, where=where, params=params, headers=self.headers)


class MintegralStream(ReportStream):
    """One report, extracted through pipelined report jobs, records in window order."""

    max_window_days = MAX_WINDOW_DAYS

    def __init__(
        self, tap: Tap, vendor: VendorConfig, report: MintegralReport, account: MintegralAccount
    ) -> None:
        self.report = report
        self.account = account
        super().__init__(
            tap,
            vendor,
            account.client,
            name=f"mintegral_{report.name}",
            schema=report.schema(),
            primary_keys=report.primary_keys(),
            replication_key="date",
        )
        #: After an incomplete window: the bookmark this run holds (no further advance).
        self.held_at: dt.date | None = None

    # Planning

    def in_flight(self, context: t.Mapping[str, t.Any] | None) -> dict[Window, str]:
        """Windows a previous run submitted and did not finish -> when it submitted them."""
        found = {}
        for entry in self.get_context_state(context).get("jobs") or ():
            try:
                window = Window(
                    dt.date.fromisoformat(entry["start"]), dt.date.fromisoformat(entry["end"])
                )
            except (KeyError, TypeError, ValueError):
                self.logger.warning("%s: ignoring an unreadable job in the state", self.name)
                continue
            found[window] = str(entry.get("submitted_at") or "")
        return found

    def plan(self, context: dict) -> list[Window]:
        now = self.account.now()
        start = resume_from(self.bookmark(context), self.start_date, self.vendor.lookback_days)
        earliest = earliest_available_day(now, self.account.tz)
        windows, skipped = plan_jobs(start, self.end_date, earliest, self.in_flight(context))
        if skipped is not None:
            self.logger.warning(
                "%s: skipped %s: older than the API's half-year limit (the earliest day it "
                "serves now is %s); that data can no longer be extracted",
                self.where(context),
                skipped,
                earliest,
            )
        return windows

    # Sync

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> Iterator[dict]:
        context = dict(context or {})
        how = f", up to {self.account.max_jobs} report job(s) at once"
        windows = self.planned_windows(context, how)
        if not windows:
            return
        yield from self.run_jobs(context, windows, self.in_flight(context))

    def run_jobs(
        self, context: dict, windows: list[Window], resumed: t.Mapping[Window, str]
    ) -> Iterator[dict]:
        """Keep up to `max_concurrent_jobs` jobs in flight; emit the oldest when it is ready.

        Windows still in flight from a killed run are all taken in the first round.
        """
        pending = deque(windows)
        active: list[Job] = []
        waiting_resumed = set(resumed) & set(windows)
        try:
            while pending or active:
                submitted = False
                while pending and (len(active) < self.account.max_jobs or waiting_resumed):
                    window = pending.popleft()
                    waiting_resumed.discard(window)
                    job = Job(window, resumed.get(window) or _utc_now(), time.monotonic())
                    active.append(job)
                    self.advance(context, job)
                    submitted = True
                if submitted:
                    self.save_jobs(context, active)
                head = active[0]
                if head.error is not None:
                    raise head.error
                if head.body is not None:
                    yield from self.emit(context, head)
                    active.pop(0)
                    self.finish(context, head, active)
                    continue
                now = time.monotonic()
                for job in active:
                    if not job.settled and job.next_poll <= now:
                        self.advance(context, job)
                if not head.settled:
                    due = min(job.next_poll for job in active if not job.settled)
                    time.sleep(max(0.0, due - time.monotonic()))
        finally:
            for job in active:
                job.close()

    def advance(self, context: dict, job: Job) -> None:
        """One step of a job: poll it (type=1), and download it (type=2) once generated."""
        where = self.where(context, job.window)
        if job.ready is None:
            with self.request(where, job.window, 1) as body:
                answer = self.read_answer(where, body.read())
            job.polls += 1
            if action_for(answer.code) is not Action.READY:
                self.react(where, job, answer)
                return
            job.ready = answer
        body = self.request(where, job.window, 2)
        head = body.read(1)
        while head.isspace():
            head = body.read(1)
        if head == b"{":
            answer = self.read_answer(where, head + body.read())
            body.close()
            job.ready = None
            if answer.code == 200:
                job.error = ParseError(f"{where}: the download answered code 200 without data.")
            else:
                self.react(where, job, answer)
            return
        body.seek(0)
        job.body = body
        self.logger.info(
            "%s: report generated (%s hours, %s) and downloaded after %d poll(s), %.1fs",
            where,
            job.ready.hours,
            "complete" if job.ready.is_complete else "incomplete",
            job.polls,
            time.monotonic() - job.started,
        )

    def request(self, where: str, window: Window, kind: int) -> t.IO[bytes]:
        """Step `kind` (1: submit or poll, 2: download) for one window of this report."""
        return self.account.get(where, self.report.params(window, self.account.timezone, kind))

    def react(self, where: str, job: Job, answer: Answer) -> None:
        """Schedule the next poll for a wait or resubmit code, or settle the job as failed."""
        job.last = answer
        action = action_for(answer.code)
        if action is Action.FAIL:
            job.error = RequestFailed(
                f"{where}: Mintegral refused the report (code {answer.code}: "
                f"{answer.message or 'no message'}). Check this report's dimensions and "
                "time_granularity under mintegral.reports, the dates (at most 7 days, within "
                "the last half year), and that the access key may read it."
            )
            return
        if action is Action.RESUBMIT:
            job.resubmits += 1
            if job.resubmits > MAX_RESUBMITS:
                job.error = RequestFailed(
                    f"{where}: Mintegral kept forgetting the report job (code 203 after "
                    f"{MAX_RESUBMITS} resubmissions: {answer.message}). Run again later."
                )
            job.next_poll = time.monotonic()
            return
        waited = time.monotonic() - job.started
        if waited >= self.account.poll_timeout:
            job.error = RequestFailed(
                f"{where}: the report was still not ready after {_duration(waited)} "
                f"(last code {answer.code}: {answer.message.rstrip('.')}). Mintegral may be "
                "busy: run again later (the next run resumes this job) or raise "
                "mintegral.poll_timeout_seconds."
            )
            return
        job.next_poll = time.monotonic() + self.account.polls.wait(job.polls)

    def read_answer(self, where: str, body: bytes) -> Answer:
        with reading(where, "answer"):
            return parse_answer(body)

    def emit(self, context: dict, job: Job) -> Iterator[dict]:
        where = self.where(context, job.window)
        assert job.body is not None
        assert job.ready is not None
        if job.ready.is_complete:
            # Complete data holds every hour of the window's days (the doc: `hours` is the
            # number of hours the data contains); checked before any row is written.
            try:
                self.reconcile_window(
                    context,
                    job.window,
                    {"hours": job.ready.hours},
                    [{"hours": 24}] * job.window.days,
                    COMPLETE_HOURS,
                )
            except ReconciliationFailed:
                job.close()
                raise

        def warn_unknown(headers: list[str]) -> None:
            self.logger.warning("%s: ignoring undocumented columns %s", where, headers)

        try:
            with reading(where, "report"):
                yield from parse_tsv(job.body, self.report, warn_unknown)
        finally:
            job.close()

    def finish(self, context: dict, job: Job, active: list[Job]) -> None:
        """After a window's records: checkpoint what is final, forget the finished job."""
        assert job.ready is not None
        latest = latest_complete_day(self.account.now(), self.account.tz, self.report.granularity)
        final = last_complete_day(job.window, job.ready, latest)
        self.set_jobs(context, active)
        if self.held_at is None and final < job.window.end:
            self.held_at = final
            self.logger.warning(
                "%s: the data is not final yet (is_complete %s, %s hours); its rows were "
                "emitted, and the bookmark stays at %s so the next run pulls them again",
                self.where(context, job.window),
                job.ready.is_complete,
                job.ready.hours,
                final,
            )
        bookmark = final if self.held_at is None else self.held_at
        if bookmark >= self.start_date:
            self.checkpoint(context, bookmark)
        self.write_state()

    # State

    def set_jobs(self, context: dict, active: list[Job]) -> None:
        state = self.get_context_state(context)
        if active:
            state["jobs"] = [
                {
                    "start": job.window.start.isoformat(),
                    "end": job.window.end.isoformat(),
                    "submitted_at": job.submitted_at,
                }
                for job in active
            ]
        else:
            state.pop("jobs", None)
        self.mark_state_changed()

    def save_jobs(self, context: dict, active: list[Job]) -> None:
        """Record the in-flight windows now, so a killed run can resume polling them."""
        self.set_jobs(context, active)
        self.write_state()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# Declaration


def build_streams(tap: Tap, vendor: VendorConfig) -> list[Stream]:
    account = MintegralAccount(vendor)
    reports = vendor.get("reports") or DEFAULT_REPORTS
    return [MintegralStream(tap, vendor, MintegralReport.from_spec(r), account) for r in reports]


def forbidden_combination(dimensions: t.Collection[str], granularity: str) -> str | None:
    """The documented rule a report breaks, or None."""
    for first, second in FORBIDDEN_PAIRS:
        if first in dimensions and second in dimensions:
            return f"{first} cannot be combined with {second}"
    for dimension in NOT_HOURLY:
        if dimension in dimensions and granularity == "hourly":
            return f"{dimension} cannot be combined with time_granularity hourly"
    return None


def validate(settings: t.Mapping[str, t.Any]) -> None:
    try:
        parse_timezone(str(settings.get("timezone") or DEFAULT_TIMEZONE))
    except ValueError as exc:
        raise ConfigError("mintegral.timezone", str(exc)) from None
    reports = settings.get("reports") or []
    for report in reports:
        where = f"mintegral.reports[{report.get('name')}]"
        dimensions = list(report.get("dimensions") or [])
        if not dimensions:
            raise ConfigError(f"{where}.dimensions", "at least one dimension is required")
        unknown = [d for d in dimensions if d not in DIMENSION_COLUMNS]
        if unknown:
            raise ConfigError(
                f"{where}.dimensions", f"{unknown[0]!r} is not one of {', '.join(DIMENSIONS)}"
            )
        rule = forbidden_combination(dimensions, report.get("time_granularity") or "daily")
        if rule:
            raise ConfigError(
                f"{where}.dimensions",
                f"{rule}: the Mintegral API does not support this combination "
                "(Creative or Endcard with Sub, with Package, or hourly)",
            )


def earliest_day(now: dt.datetime, settings: t.Mapping[str, t.Any]) -> dt.date:
    """The half-year limit, in the report timezone."""
    timezone = parse_timezone(str(settings.get("timezone") or DEFAULT_TIMEZONE))
    return earliest_available_day(now, timezone)


def default_end_date(now: dt.datetime, settings: t.Mapping[str, t.Any]) -> dt.date:
    """The latest day whose data is ready for every configured report, in the report
    timezone (the API's default +8): after 03:00 the next day if a report is daily,
    after 02:30 if all are hourly."""
    tz = parse_timezone(str(settings.get("timezone") or DEFAULT_TIMEZONE))
    reports = settings.get("reports") or DEFAULT_REPORTS
    granularities = {str(r.get("time_granularity") or "daily") for r in reports}
    return min(latest_complete_day(now, tz, g) for g in granularities)


def current_day(now: dt.datetime, settings: t.Mapping[str, t.Any]) -> dt.date:
    """Today in the report timezone: the last day an explicit end_date reaches. Its data
    is partial; `is_complete` keeps the bookmark at the last complete day."""
    return now.astimezone(parse_timezone(str(settings.get("timezone") or DEFAULT_TIMEZONE))).date()


REPORT = th.ObjectType(
    th.Property(
        "name",
        th.StringType(pattern=r"^[a-z][a-z0-9_]*$"),
        required=True,
        description="Stream name suffix: the stream is mintegral_<name>.",
    ),
    th.Property(
        "dimensions",
        th.ArrayType(th.StringType),
        required=True,
        description="dimension_option values, e.g. [Offer, Campaign, Location]. Creative "
        "and Endcard combine neither with Sub or Package nor with hourly.",
    ),
    th.Property(
        "time_granularity",
        th.StringType,
        default="daily",
        allowed_values=["daily", "hourly"],
        description="daily or hourly rows.",
    ),
    additional_properties=False,
)

VENDOR = Vendor(
    key="mintegral",
    title="Mintegral Advanced Performance Reporting API",
    api_url=API_URL,
    lookback_days=2,
    properties=(
        th.Property("access_key", th.StringType, description="The account's access key."),
        th.Property(
            "api_key", th.StringType, secret=True, description="The account's API key (secret)."
        ),
        th.Property(
            "timezone",
            th.StringType,
            default=DEFAULT_TIMEZONE,
            description="Report timezone as hours east of UTC, e.g. +8 (the API's default) "
            "or -5; dates, hours and completeness follow it.",
        ),
        th.Property(
            "max_concurrent_jobs",
            th.IntegerType(minimum=1),
            default=4,
            description="Report windows generated at once during a backfill.",
        ),
        th.Property(
            "poll_timeout_seconds",
            th.IntegerType(minimum=1),
            default=3600,
            description="How long to wait for one window's report to be generated.",
        ),
        th.Property(
            "reports",
            th.ArrayType(REPORT),
            description="Reports to extract, each a stream mintegral_<name>; default: "
            "performance by Offer, Campaign and Location, daily.",
        ),
    ),
    secrets=("api_key",),
    login=("access_key", "api_key"),
    login_hint="from the Mintegral account",
    build_streams=build_streams,
    validate=validate,
    default_end_date=default_end_date,
    last_day_served=current_day,
    earliest_day=earliest_day,
    states_totals=True,
)
