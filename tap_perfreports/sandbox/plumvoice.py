"""Plum Voice VoiceTrends performance, emulated: JSON or XML, basic auth, a real rate limit.

Route: `GET /api/performance/{start}/{end}/{period}/{phone}`. Data: each sandbox phone
number has deterministic call-quality totals per local day of the account (New York,
as the documented example's timestamps are New York midnights); weeks start on Monday;
`ALL` merges every number; a restated day has late call records. On the emulator's
clock, the account's today has the calls of its part that has passed, and later days
have none yet. A period that the requested range only partly covers is aggregated over
the covered days only, keyed by the period's own start, so a client that does not align
its ranges to periods lands wrong numbers and the tests see it.

Rate limit: `requests_per_window` per clock-aligned window of `window_seconds`, as the
documented reset times (multiples of 900s) suggest, reported on every response in the
three `X-RateLimit-*` headers. Tests shrink the window on the emulator instance, or for
a sandbox started inside the tap with the environment variable `RATE_LIMIT_ENV`.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import threading
import time
import typing as t
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

from tap_perfreports.sandbox.emulator import (
    EmulatorClock,
    SandboxRequest,
    SandboxResponse,
    Served,
    json_response,
    period_end,
    rate_limit,
    share_passed,
    stable_random,
)
from tap_perfreports.sandbox.restatement import UNRESTATED, Restatements, Revisions

USERNAME = "sandbox-plumvoice-login"
PASSWORD = "sandbox-plumvoice-temporary-secret"  # noqa: S105 - the sandbox's own login
PHONES = ("6175550100", "6175550101", "6175550102", "6175550103", "6175550104")
#: First of the numbers `scale` adds after PHONES (benchmarks).
SCALED_PHONES_FROM = 6175560000
ALL = "ALL"
ACCOUNT_TZ = ZoneInfo("America/New_York")
PERIODS = ("day", "week", "month")
METRICS = (
    "calls",
    "js_errors",
    "js_errors_per_call",
    "fetch_errors",
    "fetch_errors_per_call",
    "average_page_load",
)
TABLE = "plumvoice_performance"
#: "<requests>/<seconds>", e.g. "3/2": the rate limit of a sandbox the tap starts itself.
RATE_LIMIT_ENV = "TAP_PERFREPORTS_SANDBOX_PLUMVOICE_RATE_LIMIT"
DOCUMENTED_LIMIT = 150
DOCUMENTED_WINDOW_SECONDS = 900.0

_ROUTE = re.compile(r"^/api/performance/([^/]*)/([^/]*)/([^/]*)/([^/]*)/?$")


@dataclass(frozen=True)
class DayTotals:
    calls: int
    js_errors: int
    fetch_errors: int
    page_load_seconds: float

    def so_far(self, passed: float) -> DayTotals:
        """The totals of the day's first `passed` share, its calls spread evenly over it:
        counts in proportion, and the page loads of the calls kept."""
        calls = int(self.calls * passed)
        return DayTotals(
            calls,
            int(self.js_errors * passed),
            int(self.fetch_errors * passed),
            self.page_load_seconds * calls / self.calls if self.calls else 0.0,
        )


def phones(scale: int = 1) -> tuple[str, ...]:
    """The account's numbers: PHONES, and as many again per step of `scale` (benchmarks)."""
    extra = len(PHONES) * (scale - 1)
    return PHONES + tuple(str(SCALED_PHONES_FROM + n) for n in range(extra))


@functools.lru_cache
def _numbers(scale: int) -> frozenset[str]:
    return frozenset(phones(scale))


@functools.lru_cache(maxsize=1 << 20)
def day_totals(
    phone: str, day: dt.date, scale: int = 1, revision: int = 0, passed: float = 1.0
) -> DayTotals:
    """One number's totals for one local day; `ALL` is the sum over every number.

    A restated day has late call records: 1 to 5 more calls than first published (drawn
    for its `revision`), its errors and page loads counted again over them. Of a day
    that has not ended, only `passed` has happened (see `day_passed`): each number has
    the calls of that part, so that `ALL` still adds up.

    Kept once computed: a benchmark's second pass then measures serving, not generating."""
    if phone == ALL:
        parts = [day_totals(p, day, 1, revision, passed) for p in phones(scale)]
        return DayTotals(
            sum(p.calls for p in parts),
            sum(p.js_errors for p in parts),
            sum(p.fetch_errors for p in parts),
            sum(p.page_load_seconds for p in parts),
        )
    if passed < 1:
        return day_totals(phone, day, 1, revision).so_far(passed)
    rng = stable_random("plumvoice", phone, day)
    calls = rng.choice((0, rng.randint(1, 40)))
    if revision:
        rng = stable_random("plumvoice", phone, day, revision)
        calls += rng.randint(1, 5)
    return DayTotals(
        calls=calls,
        js_errors=rng.randint(0, calls // 4),
        fetch_errors=rng.randint(0, calls // 3),
        page_load_seconds=sum(rng.uniform(0.02, 0.4) for _ in range(calls)),
    )


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the period containing `day` (weeks start on Monday)."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def day_passed(day: dt.date, as_of: dt.datetime | None) -> float:
    """How much of the account's local `day` has passed at `as_of` (None: all of it)."""
    if as_of is None:
        return 1.0
    midnight = dt.datetime.combine(day, dt.time(), ACCOUNT_TZ)
    return share_passed(midnight, midnight + dt.timedelta(days=1), as_of)


def local_midnight(day: dt.date) -> int:
    """The Unix time a period starting on `day` is keyed by: the account's local midnight."""
    return int(dt.datetime.combine(day, dt.time(), ACCOUNT_TZ).timestamp())


def metrics(
    phone: str,
    period: str,
    start: dt.date,
    first: dt.date | None = None,
    last: dt.date | None = None,
    *,
    scale: int = 1,
    revisions: Revisions = UNRESTATED,
    as_of: dt.datetime | None = None,
) -> dict[str, int | float]:
    """The six metrics of the period starting on `start`, over its days in [first, last],
    each at its revision, as far as they have happened at `as_of` (None: every day has
    ended).

    Without `first`/`last`: the whole period, which is what the tap must land.
    """
    days_from = max(start, first) if first else start
    days_to = min(period_end(start, period), last) if last else period_end(start, period)
    days = (days_to - days_from).days + 1
    scale = scale if phone == ALL else 1  # one number's days do not depend on it
    totals = [
        day_totals(phone, day, scale, revisions.of(day), day_passed(day, as_of))
        for day in (days_from + dt.timedelta(n) for n in range(days))
    ]
    calls = sum(d.calls for d in totals)
    js_errors = sum(d.js_errors for d in totals)
    fetch_errors = sum(d.fetch_errors for d in totals)
    load = sum(d.page_load_seconds for d in totals)
    return {
        "calls": calls,
        "js_errors": js_errors,
        "js_errors_per_call": round(js_errors / calls, 4) if calls else 0,
        "fetch_errors": fetch_errors,
        "fetch_errors_per_call": round(fetch_errors / calls, 4) if calls else 0,
        "average_page_load": round(load / calls, 3) if calls else 0,
    }


def period_starts(first: dt.date, last: dt.date, period: str) -> list[dt.date]:
    """Starts of the periods that overlap [first, last], oldest first."""
    starts = []
    cursor = period_start(first, period)
    while cursor <= last:
        starts.append(cursor)
        cursor = period_end(cursor, period) + dt.timedelta(days=1)
    return starts


@dataclass(frozen=True)
class RateLimitEntry:
    """One request the limiter saw: when, in which window, what it answered, and its path
    (which phone asked: tests of shards tell their requests apart by it)."""

    at: float
    window: int
    status: int
    path: str = ""


class BadParameter(Exception):
    """A path parameter the real API refuses with `Invalid <name> parameter.`."""


class PlumVoiceEmulator(EmulatorClock):
    key = "plumvoice"
    #: The documented API's base path, served below /plumvoice.
    base_path = "/api"
    #: What fills the tap's `plumvoice` object in sandbox mode.
    tap_settings: t.ClassVar[dict[str, t.Any]] = {"username": USERNAME, "password": PASSWORD}
    #: Multiplies the account's phone numbers (`tap-perfreports-sandbox --scale`).
    scale = 1

    @property
    def numbers(self) -> frozenset[str]:
        return _numbers(self.scale)

    def __init__(
        self,
        rate_clock: t.Callable[[], float] = time.time,
        restatements: Restatements | None = None,
    ) -> None:
        self.restatements = restatements or Restatements()
        self.requests_per_window, self.window_seconds = rate_limit(
            RATE_LIMIT_ENV, DOCUMENTED_LIMIT, DOCUMENTED_WINDOW_SECONDS
        )
        #: The rate limiter's clock, in Unix seconds (the data follow `clock()`).
        self.rate_clock = rate_clock
        #: Every request the rate limiter counted, for tests.
        self.rate_log: list[RateLimitEntry] = []
        self._used: dict[int, int] = {}
        self._lock = threading.Lock()

    # The rate limiter

    def _window(self, now: float) -> tuple[int, float]:
        index = math.floor(now / self.window_seconds)
        return index, (index + 1) * self.window_seconds

    def _take(self, path: str) -> tuple[bool, dict[str, str]]:
        """Count one request against the current window; False once it is spent."""
        with self._lock:
            now = self.rate_clock()
            index, reset = self._window(now)
            used = self._used.get(index, 0)
            allowed = used < self.requests_per_window
            if allowed:
                used += 1
                self._used[index] = used
            self.rate_log.append(RateLimitEntry(now, index, 200 if allowed else 429, path))
            return allowed, self._headers(self.requests_per_window - used, reset)

    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.requests_per_window),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": f"{reset:.0f}" if reset.is_integer() else f"{reset:.3f}",
        }

    # Responses

    def cacheable(self, request: SandboxRequest) -> bool:
        """Every answer carries the rate limit's current state."""
        return False

    def error_response(self, status: int) -> SandboxResponse:
        messages = {
            400: "Invalid request.",
            401: "Authentication failed.",
            405: "Invalid HTTP method.",
            429: "Rate limit exceeded.",
        }
        with self._lock:
            now = self.rate_clock()
            index, reset = self._window(now)
            self.rate_log.append(RateLimitEntry(now, index, status))
            headers = self._headers(
                0 if status == 429 else self.requests_per_window - self._used.get(index, 0), reset
            )
        return json_response(status, {"error": messages.get(status, "Unknown error.")}, **headers)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        wants_xml = "xml" in request.headers.get("Accept", "")
        if request.method != "GET":
            return self._error(405, "Invalid HTTP method.", wants_xml, {})
        if request.basic_auth() != (USERNAME, PASSWORD):
            return self._error(401, "Authentication failed.", wants_xml, {})
        allowed, headers = self._take(request.path)
        if not allowed:
            return self._error(429, "Rate limit exceeded.", wants_xml, headers)
        match = _ROUTE.match(request.path)
        if match is None:
            return self._error(404, "Not found.", wants_xml, headers)
        try:
            first, last, period, phone = self._parameters(*match.groups())
        except BadParameter as exc:
            return self._error(400, f"Invalid {exc} parameter.", wants_xml, headers)
        now = self.clock()
        # A range that ends before the account's today has ended: no instant, so it is kept.
        as_of = now if last >= now.astimezone(ACCOUNT_TZ).date() else None
        body, keys = self._report(
            first, last, period, phone, wants_xml, self.scale, self.restatements.current, as_of
        )
        return SandboxResponse(
            200,
            body,
            "application/xml" if wants_xml else "application/json",
            headers,
            [Served(TABLE, list(keys))],
        )

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the emulator lives as long as its server
    def _report(  # noqa: PLR0917 - every part is the cache key
        self,
        first: dt.date,
        last: dt.date,
        period: str,
        phone: str,
        wants_xml: bool,
        scale: int,
        revisions: Revisions,
        as_of: dt.datetime | None,
    ) -> tuple[bytes, tuple[tuple[str, str, str], ...]]:
        """A report's body and ledger keys. Answers are not cacheable (each carries the rate
        limit's state), so the body is kept here: a benchmark then measures the tap."""
        starts = period_starts(first, last, period)
        table = {
            s: metrics(phone, period, s, first, last, scale=scale, revisions=revisions, as_of=as_of)
            for s in starts
        }
        keys = tuple(
            (phone, period, dt.datetime.fromtimestamp(local_midnight(s), dt.UTC).isoformat())
            for s in starts
        )
        return (self._xml(table) if wants_xml else self._json(table)), keys

    def _parameters(
        self, start: str, end: str, period: str, phone: str
    ) -> tuple[dt.date, dt.date, str, str]:
        def date(text: str, name: str) -> dt.date:
            if not re.fullmatch(r"\d{8}", text):
                raise BadParameter(name)
            try:
                return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                raise BadParameter(name) from None

        first, last = date(start, "start"), date(end, "end")
        if last < first:
            raise BadParameter("end")
        if period not in PERIODS:
            raise BadParameter("period")
        if phone != ALL and phone not in self.numbers:
            raise BadParameter("phone")
        return first, last, period, phone

    @staticmethod
    def _error(
        status: int, message: str, wants_xml: bool, headers: dict[str, str]
    ) -> SandboxResponse:
        """The documented error bodies; the XML one comes as application/json, as documented."""
        if wants_xml:
            body = f'<?xml version="1.0"?>\n<result>\n  <error>{message}</error>\n</result>\n'
            return SandboxResponse(status, body.encode(), "application/json", headers)
        return json_response(status, {"error": message}, **headers)

    @staticmethod
    def _value(value: int | float) -> str:
        return "0" if value == 0 else str(value)

    def _json(self, table: dict[dt.date, dict[str, int | float]]) -> bytes:
        lines = []
        for metric in METRICS:
            items = ",".join(
                f'"{local_midnight(s)}":{self._value(values[metric])}'
                for s, values in table.items()
            )
            lines.append(f'  "{metric}":{{{items}}}')
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode()

    def _xml(self, table: dict[dt.date, dict[str, int | float]]) -> bytes:
        parts = ['<?xml version="1.0"?>\n<result>\n']
        for metric in METRICS:
            parts.append(f"  <{metric}>\n")
            for s, values in table.items():
                stamp = quoteattr(str(local_midnight(s)))
                parts.append(f"    <item timestamp={stamp}>{self._value(values[metric])}</item>\n")
            parts.append(f"  </{metric}>\n")
        parts.append("</result>\n")
        return "".join(parts).encode()
