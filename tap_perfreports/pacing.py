"""Proactive rate limiting: wait for the window to reset instead of collecting a 429.

Two pacers implement the `Pacer` protocol of `http.py`: `RateLimitPacer` for an API that
reports its budget in headers (Plum Voice), and `SlidingWindowPacer` for one that only
states a rate (Adobe Target: 50 requests a minute per account).

A `RateLimitPacer` implements the `Pacer` protocol of `http.py`. It keeps a budget of
requests left in the current window: the server's `Limit`/`Remaining`/`Reset` headers
(read on every response, names configurable per vendor) are the truth; until a response
has told it otherwise, it assumes the configured budget for a window that starts with
the first request. It never waits while budget remains, and when the budget is spent it
waits once, until the reset plus a small margin for clock skew. The logic is pure: the
clock and the sleep are injectable, so tests need neither HTTP nor real time.

Requests may be sent from several threads (fetching ahead): until the first answer tells
the real budget they go one at a time, requests in flight count against a new window's
budget, and a wait based on our own estimate of the reset ends as soon as an answer
brings the server's.
"""

from __future__ import annotations

import collections
import datetime as dt
import email.utils
import logging
import math
import threading
import time
import typing as t
from dataclasses import dataclass, field

from tap_perfreports.http import retry_after_header

if t.TYPE_CHECKING:
    import requests

logger = logging.getLogger("tap_perfreports.pacing")

TOO_MANY_REQUESTS = 429
#: Clock differences below this are within the `Date` header's one-second resolution.
CLOCK_SKEW_SECONDS = 2.0
#: How long other threads wait for the first answer before going on without it.
FIRST_ANSWER_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class RateLimitHeaders:
    """Where a vendor reports its rate limit, and how it states the reset."""

    limit: str = "X-RateLimit-Limit"
    remaining: str = "X-RateLimit-Remaining"
    reset: str = "X-RateLimit-Reset"
    #: True: `reset` is a Unix time; False: seconds from now.
    reset_is_unix_time: bool = True


@dataclass(frozen=True)
class RateLimitReading:
    """The rate-limit state one response reports (None where a header is absent)."""

    limit: int | None
    remaining: int | None
    reset_at: float | None


def read_headers(
    headers: t.Mapping[str, str], names: RateLimitHeaders, now: float
) -> RateLimitReading:
    """Parse the three headers; a value that is not a number counts as absent.

    A Unix-time reset is on the server's clock: when the response's `Date` shows our
    clock is off by more than that header's resolution, the reset is moved onto ours.
    """

    def number(name: str) -> float | None:
        value = headers.get(name)
        try:
            return float(value) if value not in (None, "") else None
        except ValueError:
            return None

    limit, remaining, reset = number(names.limit), number(names.remaining), number(names.reset)
    if reset is not None:
        reset = (
            reset - server_clock_offset(headers, now) if names.reset_is_unix_time else now + reset
        )
    return RateLimitReading(
        limit=int(limit) if limit is not None else None,
        remaining=max(0, int(remaining)) if remaining is not None else None,
        reset_at=reset,
    )


def server_clock_offset(headers: t.Mapping[str, str], now: float) -> float:
    """How far the server's clock (its `Date` header) is ahead of ours; 0 if within 2s."""
    try:
        server_now = email.utils.parsedate_to_datetime(headers.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        return 0.0
    offset = server_now - now
    return offset if abs(offset) >= CLOCK_SKEW_SECONDS else 0.0


class RateLimitPacer:
    """Spaces one account's requests to stay inside its rate limit (thread-safe)."""

    def __init__(
        self,
        requests_per_window: int,
        window_seconds: float,
        *,
        headers: RateLimitHeaders | None = None,
        margin_seconds: float = 1.0,
        name: str = "API",
        clock: t.Callable[[], float] = time.time,
        sleep: t.Callable[[float], None] | None = None,
    ) -> None:
        if requests_per_window < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive window")
        self.limit = requests_per_window
        self.window_seconds = window_seconds
        self.headers = headers or RateLimitHeaders()
        self.margin_seconds = margin_seconds
        self.name = name
        self.clock = clock
        #: Without an injected sleep, waits end early when an answer brings news.
        self.sleep = sleep
        self._lock = threading.Lock()
        self._news = threading.Condition(self._lock)
        self._answers = 0
        self._remaining = requests_per_window
        self._reset_at: float | None = None
        #: Whether `_reset_at` came from the server (True) or is our own estimate.
        self._reset_known = False
        #: Requests sent and not yet answered: the server may not have counted them yet.
        self._in_flight = 0
        self._logged_turn: float | None = None
        #: Counters, for logs and tests.
        self.requests = 0
        self.waits = 0
        self.waited_seconds = 0.0
        self.refusals = 0

    # The Pacer protocol

    def wait_turn(self) -> None:
        """Take one request from the budget, first waiting for a reset if none is left.

        Until the first answer has told the real budget, one request at a time: callers
        on other threads wait for it rather than spend a budget that may not exist.
        """
        while True:
            with self._lock:
                if self._answers == 0 and self._in_flight > 0:
                    self._news.wait(FIRST_ANSWER_WAIT_SECONDS)
                    if self._answers == 0 and self._in_flight > 0:
                        self._in_flight = 0  # that answer is lost: go on without it
                    continue
                now = self.clock()
                self._roll_over(now)
                if self._remaining > 0:
                    self._remaining -= 1
                    self._in_flight += 1
                    self.requests += 1
                    return
                if not self._reset_known and self._in_flight > 0:
                    # The reset is our estimate; an answer on its way will tell the real one.
                    self._news.wait(FIRST_ANSWER_WAIT_SECONDS)
                    continue
                turn_at = self._turn_at()
                wait = turn_at - now
                answers = self._answers
                first_to_wait = turn_at != self._logged_turn
                if first_to_wait:
                    self._logged_turn = turn_at
                    self.waits += 1
                    self.waited_seconds += wait
            if first_to_wait:
                logger.info(
                    "%s rate limit: no requests left in this window; waiting %.1fs until it "
                    "resets at %s",
                    self.name,
                    wait,
                    dt.datetime.fromtimestamp(turn_at, dt.UTC).isoformat(timespec="seconds"),
                )
            if self.sleep is None:
                self._wait_for_news(wait, answers)
            else:
                self.sleep(wait)

    def observe(self, response: requests.Response | None) -> None:
        """Adopt the budget a response reports; a 429 means none is left until the reset.
        None: the request got no answer (it may or may not have been counted)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if response is not None:
                now = self.clock()
                reading = read_headers(response.headers, self.headers, now)
                if response.status_code == TOO_MANY_REQUESTS:
                    self.refusals += 1
                    reading = self._refusal(reading, retry_after_header(response), now)
                self._adopt(reading, now)
                self._answers += 1
            self._news.notify_all()

    def _wait_for_news(self, seconds: float, answers: int) -> None:
        """Sleep `seconds`, or less if an answer arrives meanwhile: it may move the reset
        (our estimate becomes the server's) or show budget left."""
        with self._lock:
            self._news.wait_for(lambda: self._answers != answers, timeout=max(0.0, seconds))

    # For VendorErrors.retry_after

    def retry_after(self, response: requests.Response) -> float | None:
        """Seconds before retrying: a 429 waits for the reset `observe` recorded, never 0."""
        if response.status_code != TOO_MANY_REQUESTS:
            return retry_after_header(response)
        with self._lock:
            return max(0.0, self._turn_at() - self.clock())

    # State

    @property
    def remaining(self) -> int:
        return self._remaining

    @property
    def reset_at(self) -> float | None:
        return self._reset_at

    def _turn_at(self) -> float:
        """When a spent budget is back: the reset plus the clock-skew margin."""
        assert self._reset_at is not None  # set by _roll_over before any wait
        return self._reset_at + self.margin_seconds

    def _roll_over(self, now: float) -> None:
        """Start a new window when the last one has reset (or before the first request)."""
        if self._reset_at is None:
            self._reset_at, self._reset_known = now + self.window_seconds, False
        elif now >= self._turn_at():
            self._remaining = self.limit
            self._reset_at, self._reset_known = now + self.window_seconds, False

    def _refusal(
        self, reading: RateLimitReading, retry_after: float | None, now: float
    ) -> RateLimitReading:
        """A 429: nothing left until the later of the reset and Retry-After, else a window."""
        candidates = [reading.reset_at, now + retry_after if retry_after is not None else None]
        reset_at = max((c for c in candidates if c is not None), default=None)
        if reset_at is None:
            reset_at = now + self.window_seconds
        return RateLimitReading(reading.limit, 0, reset_at)

    def _adopt(self, reading: RateLimitReading, now: float) -> None:
        if reading.limit is not None and reading.limit > 0:
            self.limit = reading.limit
        if reading.reset_at is None:
            if reading.remaining is not None:
                self._remaining = min(self._remaining, reading.remaining)
            return
        if self._reset_known and self._reset_at is not None:
            if reading.reset_at < self._reset_at:
                return  # an answer from a window that has already reset
            if reading.reset_at == self._reset_at:
                # Same window: requests still in flight may not be counted in it yet.
                if reading.remaining is not None:
                    self._remaining = min(self._remaining, reading.remaining)
                return
        self._reset_at, self._reset_known = reading.reset_at, True
        if reading.remaining is not None:
            # Requests still in flight may have been sent in this new window.
            self._remaining = max(0, reading.remaining - self._in_flight)


#: A request still unanswered after this long counts as answered (its thread is gone):
#: more than the HTTP client's connect and read timeouts together.
UNANSWERED_SECONDS = 600.0


@dataclass
class _Sent:
    """One request the sliding window counts: when it was answered (None: not yet)."""

    sent_at: float
    answered_at: float | None = None
    thread: int = field(default_factory=threading.get_ident)


class SlidingWindowPacer:
    """At most `requests` requests in any `window_seconds`, for an API that states a rate
    and says nothing about its budget (no headers); thread-safe.

    A request goes out only once every request older than the last `requests - 1` was
    answered at least `window_seconds` (plus a margin) ago. So of any `requests + 1`
    requests, the last was sent a whole window after the server had received the first:
    no interval shorter than the window holds more than `requests` of them at the server,
    whether it counts a sliding minute or the clock's minutes, whatever the network
    delay and however many threads fetch ahead. The first `requests` go at once.

    A throttled answer (`throttled`, or a status in `throttle_statuses`) pauses every
    request for a whole window, or for its Retry-After if longer: the account's budget
    may be shared with other clients. The clock and the sleep are injectable.
    """

    def __init__(
        self,
        requests: int,
        window_seconds: float,
        *,
        margin_seconds: float | None = None,
        throttle_statuses: t.Collection[int] = (TOO_MANY_REQUESTS,),
        name: str = "API",
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] | None = None,
    ) -> None:
        if requests < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive window")
        self.limit = requests
        self.window_seconds = window_seconds
        #: A second's slack for a server counting whole seconds; less for short windows.
        self.margin_seconds = (
            min(1.0, window_seconds / 60) if margin_seconds is None else margin_seconds
        )
        self.throttle_statuses = frozenset(throttle_statuses)
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._news = threading.Condition(self._lock)
        #: The requests still counted, oldest first.
        self._sent: collections.deque[_Sent] = collections.deque()
        #: The latest answer of the requests no longer in `_sent`.
        self._answered_before = -math.inf
        self._paused_until = -math.inf
        self._logged_turn: float | None = None
        #: Answers and throttles so far: a waiting thread wakes when this changes.
        self._events = 0
        #: Counters, for logs and tests.
        self.requests = 0
        self.waits = 0
        self.waited_seconds = 0.0
        self.throttles = 0

    # The Pacer protocol

    def wait_turn(self) -> None:
        """Wait until a request may go without exceeding the rate, and count it."""
        while True:
            with self._lock:
                now = self.clock()
                turn_at = self._turn_at(now)
                if turn_at is not None and turn_at <= now:
                    self._sent.append(_Sent(now))
                    self.requests += 1
                    return
                # Waiting for an answer: at most until the oldest request counts as answered.
                wait = (
                    turn_at - now
                    if turn_at is not None
                    else self._sent[0].sent_at + UNANSWERED_SECONDS - now
                )
                first_to_wait = turn_at is not None and turn_at != self._logged_turn
                if first_to_wait:
                    self._logged_turn = turn_at
                    self.waits += 1
                    self.waited_seconds += wait
                events = self._events
            if first_to_wait:
                logger.info(
                    "%s rate limit: %d requests per %gs; waiting %.1fs",
                    self.name,
                    self.limit,
                    self.window_seconds,
                    wait,
                )
            if self.sleep is not None:
                self.sleep(max(0.0, wait))
                continue
            self._wait_for_news(wait, events)

    def _wait_for_news(self, seconds: float, events: int) -> None:
        """Sleep `seconds`, or less if an answer or a throttle changes the turn."""
        with self._lock:
            self._news.wait_for(lambda: self._events != events, timeout=max(0.0, seconds))

    def observe(self, response: requests.Response | None) -> None:
        """The answer to this thread's oldest unanswered request (None: it got none)."""
        with self._lock:
            now = self.clock()
            me = threading.get_ident()
            mine = next((s for s in self._sent if s.thread == me and s.answered_at is None), None)
            if mine is not None:
                mine.answered_at = now
            if response is not None and response.status_code in self.throttle_statuses:
                self._pause(now, retry_after_header(response))
            self._events += 1
            self._news.notify_all()

    # Throttled answers

    def throttled(self, retry_after: float | None = None) -> float:
        """The API refused a request for its rate: pause every request for a window (or
        `retry_after`, if longer). Returns the seconds until requests may go again."""
        with self._lock:
            now = self.clock()
            self._pause(now, retry_after)
            self._events += 1
            self._news.notify_all()
            return self._paused_until - now

    def retry_after(self, response: requests.Response) -> float | None:
        """Seconds before retrying: a throttled status waits out the pause `observe` set."""
        header = retry_after_header(response)
        if response.status_code not in self.throttle_statuses:
            return header
        return max(header or 0.0, self.paused_for())

    def paused_for(self) -> float:
        """Seconds until a throttle's pause ends (0 when there is none)."""
        with self._lock:
            return max(0.0, self._paused_until - self.clock())

    def _pause(self, now: float, retry_after: float | None) -> None:
        self.throttles += 1
        pause = max(self.window_seconds + self.margin_seconds, retry_after or 0.0)
        self._paused_until = max(self._paused_until, now + pause)
        logger.info("%s throttled a request: pausing every request for %.1fs", self.name, pause)

    # State

    def _turn_at(self, now: float) -> float | None:
        """When the next request may go; None while an older request is unanswered."""
        sent = self._sent
        while len(sent) >= self.limit:
            oldest = sent[0]
            answered = oldest.answered_at
            if answered is None:
                if now - oldest.sent_at < UNANSWERED_SECONDS:
                    return None
                answered = oldest.answered_at = now
            self._answered_before = max(self._answered_before, answered)
            sent.popleft()
        return max(
            self._answered_before + self.window_seconds + self.margin_seconds,
            self._paused_until,
        )
