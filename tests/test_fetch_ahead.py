"""Fetching ahead: bodies come back in order, at most N requests are on the wire, errors
surface at their turn, and a run's output is the same as a sequential run's."""

from __future__ import annotations

import io
import threading
import typing as t

import pytest

from tap_perfreports.errors import RequestFailed
from tap_perfreports.fetch_ahead import FetchAhead, Request
from tests.helpers import run_tap, sandbox_config, without_times


class FakeWire:
    """A fetch function that blocks each request until the test releases it."""

    def __init__(self, fail: t.Container[str] = ()) -> None:
        self.fail = fail
        self.lock = threading.Lock()
        self.sent: list[str] = []
        self.on_wire = 0
        self.most_on_wire = 0
        self.released: dict[str, threading.Event] = {}
        self.arrived = threading.Semaphore(0)

    def release(self, *urls: str) -> None:
        for url in urls:
            self.released.setdefault(url, threading.Event()).set()

    def __call__(self, request: Request) -> t.IO[bytes]:
        with self.lock:
            self.sent.append(request.url)
            self.on_wire += 1
            self.most_on_wire = max(self.most_on_wire, self.on_wire)
            gate = self.released.setdefault(request.url, threading.Event())
        self.arrived.release()
        gate.wait(10)
        with self.lock:
            self.on_wire -= 1
        if request.url in self.fail:
            raise RequestFailed(f"{request.where}: HTTP 500")
        return io.BytesIO(request.url.encode())

    def wait_for(self, count: int) -> None:
        for _ in range(count):
            assert self.arrived.acquire(timeout=10), "a request never arrived"


def requests(*urls: str) -> list[Request]:
    return [Request(url, where=f"window {url}") for url in urls]


def test_announced_requests_are_sent_ahead_at_most_n_at_once_and_taken_in_order():
    wire = FakeWire()
    ahead = FetchAhead(wire, max_in_flight=3)
    ahead.announce(requests("a", "b", "c", "d", "e"))
    wire.wait_for(3)  # three are sent before anything is taken
    assert sorted(wire.sent) == ["a", "b", "c"]
    wire.release("c", "b")  # later answers arrive first...
    wire.release("a", "d", "e")
    bodies = [ahead.take(r).read() for r in requests("a", "b", "c", "d", "e")]
    assert bodies == [b"a", b"b", b"c", b"d", b"e"]  # ...and are still taken in order
    assert wire.most_on_wire == 3
    assert sorted(wire.sent) == ["a", "b", "c", "d", "e"], "a request was sent twice"


def test_a_failure_ahead_is_raised_at_its_turn_not_before():
    wire = FakeWire(fail={"b"})
    ahead = FetchAhead(wire, max_in_flight=4)
    wire.release("a", "b", "c")
    ahead.announce(requests("a", "b", "c"))
    assert ahead.take(requests("a")[0]).read() == b"a"
    with pytest.raises(RequestFailed, match="window b: HTTP 500"):
        ahead.take(requests("b")[0])


def test_taking_out_of_order_drops_what_was_announced_before_and_unannounced_is_sent_at_once():
    wire = FakeWire()
    wire.release("a", "b", "c", "d", "x")
    ahead = FetchAhead(wire, max_in_flight=2)
    ahead.announce(requests("a", "b", "c", "d"))
    assert ahead.take(requests("c")[0]).read() == b"c"  # a and b are dropped
    assert ahead.take(requests("x")[0]).read() == b"x"  # never announced: fetched now
    assert ahead.take(requests("d")[0]).read() == b"d"
    assert wire.sent.count("c") == 1
    assert wire.sent.count("d") == 1


def test_one_request_at_a_time_sends_nothing_ahead():
    wire = FakeWire()
    wire.release("a", "b")
    ahead = FetchAhead(wire, max_in_flight=1)
    ahead.announce(requests("a", "b"))
    assert wire.sent == []
    assert ahead.take(requests("b")[0]).read() == b"b"
    assert wire.sent == ["b"]


@pytest.mark.parametrize(
    ("vendor", "settings"),
    [
        ("infinity", {"igrps": [1001, 1002], "page_size": 500}),
        ("citygrid", {"publisher_codes": ["guest", "pub_seo"]}),
        ("adobe_target", {"campaign_ids": [7, 11]}),
    ],
)
def test_a_run_fetching_ahead_emits_exactly_what_a_sequential_run_emits(sandbox, vendor, settings):
    """Same records, same order, same STATE messages: fetching ahead changes only timing."""
    # Two runs of 30 Adobe requests within a minute would meet the account's throttle
    # (50 a minute, which each run paces alone): lifted, as this compares request counts.
    sandbox.emulators["adobe_target"].requests_per_window = 10**6
    outputs = []
    for concurrency in (1, 6):
        config = sandbox_config(
            sandbox,
            vendor,
            "2026-06-01",
            "2026-10-31",
            max_concurrent_requests=concurrency,
            **settings,
        )
        sandbox.ledger.reset()
        run = run_tap(config)
        assert run.returncode == 0, run.stderr
        outputs.append((without_times(run.messages), len(sandbox.ledger.requests)))
    (sequential, sequential_requests), (ahead, ahead_requests) = outputs
    assert len([m for m in sequential if m["type"] == "RECORD"]) > 500
    assert ahead == sequential
    assert ahead_requests == sequential_requests, "fetching ahead wasted requests"
