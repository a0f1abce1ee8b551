"""The fault matrix: every vendor format under every kind of network and vendor failure.

Transient faults must end in a complete run. Permanent ones must end in exit 1 with a last
log line naming the stream, partition and window and what to do, and leave a state from
which a rerun finishes the job. Either way the rows are judged against the fault-free run
(`scenarios.judge`), and every output is searched for credentials.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import typing as t

import pytest

from tap_perfreports.sandbox.faults import Fault
from tap_perfreports.sandbox.server import SandboxServer, start_sandbox
from tap_perfreports.tap import _quiet_other_threads
from tests import reliability_table
from tests.helpers import TapRun, run_tap
from tests.reliability.scenarios import (
    SCENARIOS,
    Scenario,
    Truth,
    captured,
    distinctive_credentials,
    judge,
    prepare_emulators,
    secret_hits,
)

pytestmark = pytest.mark.reliability

#: Blank rate-limit headers: a 429 that says nothing about when to come back.
NO_RESET = {"X-RateLimit-Limit": "", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": ""}

#: name -> (faults to inject, given the scenario; True if the run must still complete)
FAULTS: dict[str, tuple[t.Callable[[Scenario], list[Fault]], bool]] = {
    "429 burst with Retry-After": (
        lambda s: [Fault("status", s.vendor, status=429, times=3, headers={"Retry-After": "0"})],
        True,
    ),
    "429 burst without reset headers": (
        lambda s: [Fault("status", s.vendor, status=429, times=3, headers=NO_RESET)],
        True,
    ),
    "500/502/503 burst": (
        lambda s: [Fault("status", s.vendor, status=code) for code in (500, 502, 503)],
        True,
    ),
    "reset mid-body": (
        lambda s: [Fault("reset", s.vendor, query=s.body_query, after_bytes=60, times=2)],
        True,
    ),
    "dropped without an answer": (lambda s: [Fault("drop", s.vendor, times=2)], True),
    "read timeout": (lambda s: [Fault("delay", s.vendor, delay=4.0)], True),
    "truncated body": (
        lambda s: [Fault("truncate", s.vendor, query=s.body_query, after_bytes=90, times=2)],
        True,
    ),
    "empty body": (lambda s: [Fault("body", s.vendor, query=s.body_query, body=b"")], True),
    "malformed payload": (
        lambda s: [Fault("body", s.vendor, query=s.body_query, body=s.malformed, times=-1)],
        False,
    ),
    "vendor error inside a 200": (
        lambda s: [Fault("body", s.vendor, body=s.error_in_200, times=-1)],
        False,
    ),
    "refused until the retries are spent": (
        lambda s: [Fault("status", s.vendor, status=503, times=-1)],
        False,
    ),
}


@pytest.fixture(scope="module")
def server() -> t.Iterator[SandboxServer]:
    """One sandbox for the module; each test clears its faults and ledger."""
    sandbox = start_sandbox()
    stack = contextlib.ExitStack()
    stack.enter_context(distinctive_credentials())
    prepare_emulators(sandbox)
    try:
        yield sandbox
    finally:
        sandbox.stop()
        stack.close()


@pytest.fixture(scope="module")
def truths(server: SandboxServer) -> dict[str, Truth]:
    """Each scenario's fault-free run."""
    return {s.name: Truth.of(run_scenario(server, s)) for s in SCENARIOS}


def run_scenario(
    server: SandboxServer,
    scenario: Scenario,
    *,
    state: dict | None = None,
    api_url: str | None = None,
    env: dict[str, str] | None = None,
) -> TapRun:
    config = scenario.config(api_url or server.url(scenario.vendor))
    return run_tap(config, state=state, env={**scenario.environ(), **(env or {})})


def closed_port_url(server: SandboxServer, vendor: str) -> str:
    """The sandbox's URL for `vendor`, on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return server.url(vendor).replace(f":{server.server_address[1]}", f":{port}")


def check_failure_line(run: TapRun, scenario: Scenario) -> None:
    """Exit 1, no traceback, and a last line that says where it failed and what to do."""
    assert run.returncode == 1, run.stderr[-2000:]
    line = run.last_log_line
    assert "stream " in line, line
    assert "window " in line or "publisher_code=" in line, line
    # what to do: a hint, or the advice to run again once the vendor recovers
    assert any(word in line for word in ("Check", "check", "run again", "report")), line


def record(scenario: Scenario, fault_count: int, runs: list[TapRun], truth: Truth) -> None:
    verdict = judge(truth, runs)
    hits = sum(secret_hits(captured(run), scenario.config("")) for run in runs)
    unhandled = sum("Traceback" in run.stderr or run.returncode not in (0, 1) for run in runs)
    reliability_table.record(
        f"fault matrix: {scenario.name}",
        faults=fault_count,
        runs=len(runs),
        expected=verdict.expected,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        stale=verdict.wrong,
        secret_hits=hits,
        unhandled=unhandled,
    )
    assert (verdict.lost, verdict.duplicated, verdict.wrong) == (0, 0, 0), verdict
    assert hits == 0
    assert unhandled == 0, runs[-1].stderr[-3000:]


@pytest.mark.parametrize("fault_name", list(FAULTS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault(server, truths, scenario: Scenario, fault_name: str) -> None:
    make_faults, transient = FAULTS[fault_name]
    server.faults.clear()
    server.ledger.reset()
    faults = [server.faults.add(fault) for fault in make_faults(scenario)]
    first = run_scenario(server, scenario)
    hit = sum(fault.hits for fault in faults)
    assert hit, "the fault was never injected"
    server.faults.clear()
    runs = [first]
    if transient:
        assert first.returncode == 0, first.stderr[-3000:]
    else:
        check_failure_line(first, scenario)
        runs.append(run_scenario(server, scenario, state=first.state))
        assert runs[-1].returncode == 0, runs[-1].stderr[-3000:]
    record(scenario, hit, runs, truths[scenario.name])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_connection_refused(server, truths, scenario: Scenario) -> None:
    """Nothing listens: the retries are spent, the run fails clearly, a rerun finishes."""
    server.faults.clear()
    first = run_scenario(server, scenario, api_url=closed_port_url(server, scenario.vendor))
    assert first.returncode == 1, first.stderr[-2000:]
    assert "connection failed" in first.last_log_line, first.last_log_line
    assert "run again later" in first.last_log_line
    second = run_scenario(server, scenario, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    record(scenario, 1, [first, second], truths[scenario.name])


def test_the_failure_stays_the_last_log_line_while_fetch_ahead_threads_retry(capsys):
    """Found by the matrix at LOGLEVEL=debug: a worker still retrying a request sent ahead
    logged after the failure line, so the last line no longer said what failed (also when
    its record was already past the handler's filters: found under load)."""
    handler = logging.StreamHandler(sys.stderr)
    log = logging.getLogger("tap-perfreports.test-quiet")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = [h for each in loggers for h in getattr(each, "handlers", ())]
    try:
        _quiet_other_threads()
        worker = threading.Thread(target=log.info, args=("HTTP 503; retry 2 of 7",))
        worker.start()
        worker.join()
        log.error("stream s | window w: the failure")
    finally:
        log.removeHandler(handler)
        for each in handlers:  # the other tests' handlers write every thread again
            each.__dict__.pop("emit", None)
    assert capsys.readouterr().err.splitlines() == ["stream s | window w: the failure"]
