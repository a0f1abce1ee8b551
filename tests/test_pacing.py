"""The rate-limit pacer as pure logic: a fake clock, a recorded sleep, no HTTP."""

from __future__ import annotations

import email.utils
import threading
import typing as t

import pytest
import requests

from tap_perfreports.pacing import (
    RateLimitHeaders,
    RateLimitPacer,
    SlidingWindowPacer,
    read_headers,
)

pytestmark = pytest.mark.unit


class FakeTime:
    """A clock that only moves when the pacer sleeps (or a test advances it)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def response(status: int = 200, **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.headers.update({name.replace("_", "-"): value for name, value in headers.items()})
    return answer


def rate(limit: int, remaining: int, reset: float, status: int = 200) -> requests.Response:
    return response(
        status,
        X_RateLimit_Limit=str(limit),
        X_RateLimit_Remaining=str(remaining),
        X_RateLimit_Reset=str(reset),
    )


def pacer(time: FakeTime, limit: int = 150, window: float = 900, margin: float = 1.0):
    return RateLimitPacer(limit, window, margin_seconds=margin, clock=time.clock, sleep=time.sleep)


def test_the_documented_headers_are_read_as_limit_remaining_and_unix_reset():
    # HTTP/1.1 200 OK / X-RateLimit-Limit: 150 / X-RateLimit-Remaining: 149 /
    # X-RateLimit-Reset: 1519660800, as in the Plum Voice example
    reading = read_headers(rate(150, 149, 1519660800).headers, RateLimitHeaders(), now=0.0)
    assert (reading.limit, reading.remaining, reading.reset_at) == (150, 149, 1519660800.0)


def test_no_wait_while_the_server_reports_budget_left():
    time = FakeTime()
    pace = pacer(time)
    for remaining in range(149, 0, -1):
        pace.wait_turn()
        pace.observe(rate(150, remaining, time.now + 600))
        time.now += 0.5
    pace.wait_turn()  # the 150th request: the last response said 1 left
    assert time.sleeps == []
    assert (pace.requests, pace.waits) == (150, 0)


def test_a_spent_budget_waits_until_the_reset_plus_margin_then_continues():
    time = FakeTime()
    pace = pacer(time, margin=1.0)
    reset = time.now + 300
    pace.wait_turn()
    pace.observe(rate(150, 0, reset))
    pace.wait_turn()
    assert time.sleeps == [pytest.approx(301.0)]
    assert time.now == pytest.approx(reset + 1.0)
    assert (pace.requests, pace.waits, pace.refusals) == (2, 1, 0)
    # the new window's budget is the limit again, minus the request just sent
    assert pace.remaining == 149


def test_without_headers_the_configured_budget_is_kept_from_the_first_request():
    time = FakeTime()
    pace = pacer(time, limit=3, window=10, margin=0.0)
    sent_at = []
    for _ in range(7):
        pace.wait_turn()
        sent_at.append(time.now)
        pace.observe(response(200))
        time.now += 1
    start = sent_at[0]
    # 3 in the first 10s window, 3 in the next, then the 7th
    assert sent_at == [start, start + 1, start + 2, start + 10, start + 11, start + 12, start + 20]
    assert pace.waits == 2


def test_a_429_waits_for_the_reset_exactly_once():
    time = FakeTime()
    pace = pacer(time, margin=0.5)
    reset = time.now + 42
    pace.wait_turn()
    refused = rate(150, 0, reset, status=429)
    pace.observe(refused)
    wait = pace.retry_after(refused)
    assert wait == pytest.approx(42.5)
    time.sleep(wait)  # what the HTTP client's backoff does with that wait
    pace.wait_turn()  # the retry: the window has reset, no second wait
    assert time.sleeps == [pytest.approx(42.5)]
    assert (pace.refusals, pace.waits) == (1, 0)


def test_a_429_without_rate_headers_is_never_retried_at_once():
    time = FakeTime()
    pace = pacer(time, window=900, margin=1.0)
    pace.wait_turn()
    time.now += 5
    bare = response(429)
    pace.observe(bare)
    assert pace.retry_after(bare) == pytest.approx(901.0)
    with_retry_after = response(429, Retry_After="30")
    pace.observe(with_retry_after)
    assert pace.retry_after(with_retry_after) >= 30


def test_other_statuses_keep_their_retry_after_header():
    pace = pacer(FakeTime())
    assert pace.retry_after(response(503, Retry_After="7")) == 7.0
    assert pace.retry_after(response(500)) is None


def test_an_answer_from_an_earlier_window_does_not_spend_the_new_budget():
    time = FakeTime()
    pace = pacer(time, margin=0.0)
    pace.wait_turn()
    pace.observe(rate(150, 10, time.now + 100))
    pace.observe(rate(150, 0, time.now - 800))  # stale: that window has reset
    assert pace.remaining == 10


def test_requests_in_flight_are_not_given_back_by_an_older_count():
    time = FakeTime()
    pace = pacer(time)
    reset = time.now + 100
    pace.wait_turn()
    pace.observe(rate(150, 5, reset))
    pace.wait_turn()
    pace.wait_turn()  # two sent, neither answered: 3 left
    pace.observe(rate(150, 4, reset))  # the first one's answer
    assert pace.remaining == 3


def test_header_names_and_relative_resets_are_configurable():
    time = FakeTime()
    names = RateLimitHeaders("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", False)
    pace = RateLimitPacer(
        10, 60, headers=names, margin_seconds=0.0, clock=time.clock, sleep=time.sleep
    )
    pace.wait_turn()
    pace.observe(response(RateLimit_Limit="10", RateLimit_Remaining="0", RateLimit_Reset="12"))
    pace.wait_turn()
    assert time.sleeps == [pytest.approx(12.0)]


def test_the_server_limit_replaces_the_configured_one():
    time = FakeTime()
    pace = pacer(time, limit=150, margin=0.0)
    reset = time.now + 5
    pace.wait_turn()
    pace.observe(rate(2, 0, reset))
    pace.wait_turn()
    assert pace.remaining == 1  # the server's limit of 2, minus this request


class SharedFakeTime:
    """A fake clock for several threads: a sleep ends at the moment its caller aimed for."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._seen = threading.local()

    def clock(self) -> float:
        with self._lock:
            self._seen.now = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now = max(self.now, self._seen.now + seconds)


def test_concurrent_callers_never_exceed_the_budget_nor_wait_longer_than_needed():
    time = SharedFakeTime()
    start = time.now
    pace = RateLimitPacer(5, 60, margin_seconds=0.0, clock=time.clock, sleep=time.sleep)

    def worker() -> None:
        for _ in range(3):
            pace.wait_turn()
            pace.observe(response(200))  # answers without rate-limit headers

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert pace.requests == 12
    # 12 requests at 5 per 60s window: 5 now, 5 after one reset, 2 after the second.
    # One request too many in a window would end earlier; an idle window, later.
    assert time.now == start + 120


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError, match="at least one request"):
        RateLimitPacer(0, 900)


def http_date(seconds: float) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def test_a_server_clock_behind_ours_still_waits_for_its_reset():
    time = FakeTime()
    pace = pacer(time, margin=1.0)
    server_now = time.now - 60  # the server's clock is a minute behind ours
    pace.wait_turn()
    refused = rate(150, 0, server_now + 10, status=429)
    refused.headers["Date"] = http_date(server_now)
    pace.observe(refused)
    # 10s of the server's window are left; without the Date it would look long over
    assert pace.retry_after(refused) == pytest.approx(11.0)


def test_a_clock_difference_within_the_date_resolution_is_ignored():
    time = FakeTime(1_000_000.6)
    pace = pacer(time, margin=0.0)
    pace.wait_turn()
    answer = rate(150, 0, 1_000_005)
    answer.headers["Date"] = http_date(1_000_000)  # the same second, truncated
    pace.observe(answer)
    assert pace.reset_at == 1_000_005


def test_a_new_window_counts_the_requests_still_in_flight():
    time = FakeTime()
    pace = pacer(time)
    pace.wait_turn()
    pace.observe(rate(150, 100, time.now + 1))
    time.now += 2  # that window has reset
    for _ in range(3):
        pace.wait_turn()
    pace.observe(rate(150, 10, time.now + 60))  # the new window's first answer: two more
    assert pace.remaining == 8  # are on their way and will count in it


def in_thread(target: t.Callable[[], None]) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        target()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def test_other_threads_wait_for_the_first_answer_before_spending_a_guessed_budget():
    pace = RateLimitPacer(150, 900, margin_seconds=0.0)  # the real clock and wait
    pace.wait_turn()
    second = in_thread(pace.wait_turn)
    assert not second.wait(0.2), "a second request went out before the budget was known"
    pace.observe(rate(3, 2, pace.clock() + 5))
    assert second.wait(5)
    assert pace.remaining == 1


def test_a_wait_on_our_own_estimate_ends_when_an_answer_tells_the_real_reset():
    pace = RateLimitPacer(2, 900, margin_seconds=0.0)
    pace.wait_turn()
    pace.observe(response(200))  # answered, but without rate-limit headers
    pace.wait_turn()  # the last of the guessed budget; its reset is a 900 s estimate
    third = in_thread(pace.wait_turn)
    assert not third.wait(0.2)
    pace.observe(rate(2, 0, pace.clock() + 0.5))  # the server's window resets in 0.5 s
    assert third.wait(10), "still waiting for the estimated 900 s reset"


# The sliding-window pacer (Adobe Target: a stated rate, no headers)


def sliding(time: FakeTime, limit: int = 50, window: float = 60.0, **options: t.Any):
    return SlidingWindowPacer(limit, window, clock=time.clock, sleep=time.sleep, **options)


def test_the_first_requests_go_at_once_then_each_waits_a_window_after_an_answer():
    time = FakeTime()
    pace = sliding(time, limit=3, window=60.0)
    start = time.now
    for _ in range(3):
        pace.wait_turn()
        time.now += 0.5  # each answer takes half a second
        pace.observe(response())
    assert time.sleeps == []
    pace.wait_turn()  # the 4th: a window (and the 1 s margin) after the 1st was answered
    assert time.now == start + 0.5 + 60.0 + 1.0
    assert (pace.waits, pace.requests) == (1, 4)


def test_of_any_limit_plus_one_requests_the_last_goes_a_window_after_the_first_was_answered():
    """So no interval shorter than the window holds more than `limit` of them at the
    server, however it counts, and wherever between sending and answering they arrived."""
    time = FakeTime()
    pace = sliding(time, limit=50, window=60.0, margin_seconds=0.0)
    sent, answered = [], []
    for n in range(300):
        pace.wait_turn()
        sent.append(time.now)
        time.now += 0.2 + (n % 7) * 0.3  # uneven answer times
        answered.append(time.now)
        pace.observe(response())
    assert all(sent[i] >= answered[i - 50] + 60.0 for i in range(50, 300))
    # and the pacing costs no more than that: each waits for exactly that moment
    assert any(sent[i] == answered[i - 50] + 60.0 for i in range(50, 300))
    per_minute = max(sum(1 for s in sent if a <= s < a + 60.0) for a in sent)
    assert per_minute == 50


def test_a_throttled_answer_pauses_every_request_for_a_window_or_its_retry_after():
    time = FakeTime()
    pace = sliding(time, limit=50, window=60.0)
    pace.wait_turn()
    pace.observe(response(429))
    assert pace.retry_after(response(429)) == 61.0
    assert pace.retry_after(response(503, Retry_After="7")) == 7.0  # not a throttle status
    time.now += 1.0
    assert pace.throttled(retry_after=120.0) == 120.0  # e.g. an <error> body saying so
    pace.wait_turn()
    assert time.now == 1_000_000.0 + 1.0 + 120.0
    assert pace.throttles == 2


def test_statuses_that_mean_a_throttle_are_configurable():
    time = FakeTime()
    pace = sliding(time, limit=50, window=10.0, throttle_statuses={429, 503})
    pace.wait_turn()
    pace.observe(response(503))
    assert pace.retry_after(response(503)) == pytest.approx(10.0 + 10.0 / 60)


def test_an_unanswered_older_request_holds_the_next_one_back():
    time = FakeTime()
    pace = sliding(time, limit=2, window=1.0)
    gone = threading.Thread(target=pace.wait_turn)  # sent, never answered: its thread is gone
    gone.start()
    gone.join()
    pace.wait_turn()
    pace.observe(response())
    pace.wait_turn()  # waits until the first counts as answered, then a window
    assert time.now >= 1_000_000.0 + 600.0 + 1.0


def test_threads_fetching_ahead_never_exceed_the_rate():
    import time as real_time

    pace = SlidingWindowPacer(5, 0.3)
    log: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            pace.wait_turn()
            sent = real_time.monotonic()
            real_time.sleep(0.01)
            answered = real_time.monotonic()
            pace.observe(response())
            with lock:
                log.append((sent, answered))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sorted(s for s, _ in log)
    assert len(sent) == 40
    assert max(sum(1 for s in sent if a <= s < a + 0.3) for a in sent) <= 5
    assert sent[-1] - sent[0] >= 7 * 0.3  # 40 requests: 8 windows at least


def test_sliding_window_limits_are_checked():
    with pytest.raises(ValueError, match="at least one request"):
        SlidingWindowPacer(0, 60.0)
    with pytest.raises(ValueError, match="positive window"):
        SlidingWindowPacer(50, 0.0)
