"""Infinity through the CLI when the network and the vendor misbehave."""

from __future__ import annotations

import datetime as dt
import re

from tap_perfreports.sandbox import infinity as emulated
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import run_tap, sandbox_config

ROUTE = "infinity:triggers/all"


def triggers_only(sandbox, **settings):
    return sandbox_config(
        sandbox,
        "infinity",
        "2026-10-01",
        "2026-10-04",
        igrps=[1001],
        reports=[{"name": "triggers", "route": "triggers/all", "display": ["act"]}],
        **settings,
    )


def assert_complete(run, sandbox):
    keys = [(r["igrp"], r["row_id"]) for r in run.records("infinity_triggers")]
    assert len(keys) == len(set(keys)), "duplicate rows"
    expected = {
        (1001, e["rowId"])
        for e in emulated.events_between(1001, dt.date(2026, 10, 1), dt.date(2026, 10, 4), dt.UTC)
    }
    assert set(keys) == expected == sandbox.ledger.served_keys(ROUTE)


def test_transient_failures_are_retried_to_a_complete_run(sandbox):
    for fault in (
        Fault("status", vendor="infinity", status=503, times=2),
        Fault("status", vendor="infinity", status=429, times=1, headers={"Retry-After": "1"}),
        Fault("truncate", vendor="infinity", after_bytes=300),
        Fault("reset", vendor="infinity", after_bytes=100),
        Fault("drop", vendor="infinity"),
    ):
        sandbox.faults.add(fault)
    run = run_tap(triggers_only(sandbox, page_size=50))
    assert run.returncode == 0, run.stderr
    assert_complete(run, sandbox)
    faults = [r.fault for r in sandbox.ledger.requests if r.fault]
    assert sorted(faults) == ["drop", "reset", "status", "status", "status", "truncate"]
    # the 429's Retry-After was honoured rather than the exponential wait
    assert re.search(r"HTTP 429: Too many requests; retry \d of 7 in 1\.0s", run.stderr)


def test_bad_credentials_fail_at_once_with_one_clear_line(sandbox):
    config = triggers_only(sandbox, username="someone", password="wrong-Pa55word!")
    run = run_tap(config)
    assert run.returncode == 1
    assert len(sandbox.ledger.requests) == 1, "a 401 must not be retried"
    assert "Check infinity.username and infinity.password" in run.last_log_line
    assert "stream infinity_triggers" in run.last_log_line
    assert "window 2026-10-01..2026-10-04" in run.last_log_line
    assert "Traceback" not in run.stderr
    assert "wrong-Pa55word!" not in run.stderr + run.stdout


def test_a_vendor_error_inside_a_200_is_an_error_not_an_empty_report(sandbox):
    sandbox.faults.add(Fault("body", vendor="infinity", body=b'"Report temporarily unavailable"'))
    run = run_tap(triggers_only(sandbox))
    assert run.returncode == 1
    assert "Report temporarily unavailable" in run.last_log_line
    assert run.records("infinity_triggers") == []


def test_a_malformed_line_fails_the_run_and_keeps_the_window_unfinished(sandbox):
    good_line = b'{"rowId":1,"triggerDatetime":"2026-10-01 00:00:00","act":"x"}\n'
    sandbox.faults.add(Fault("body", vendor="infinity", body=good_line + b'{"rowId":\n'))
    run = run_tap(triggers_only(sandbox))
    assert run.returncode == 1
    assert "unreadable response (line 2 is not JSON)" in run.last_log_line
    assert run.bookmarks("infinity_triggers") in ({}, {'{"igrp": 1001}': None})


def test_persistent_server_errors_give_up_with_what_to_do(sandbox):
    sandbox.faults.add(Fault("status", vendor="infinity", status=500, times=-1))
    run = run_tap(triggers_only(sandbox))
    assert run.returncode == 1
    assert "gave up after 8 tries" in run.last_log_line
    assert "run again later" in run.last_log_line
    assert "Traceback" not in run.stderr


def test_bad_config_fails_before_any_request_naming_the_setting(sandbox):
    config = triggers_only(sandbox, page_size=20000)
    run = run_tap(config)
    assert run.returncode == 1
    assert "page_size" in run.stderr
    config = triggers_only(sandbox)
    config["end_date"] = "2026-09-01"
    run = run_tap(config)
    assert run.returncode == 1
    assert "Invalid setting 'end_date'" in run.last_log_line
    assert sandbox.ledger.requests == []
    assert "Traceback" not in run.stderr


def test_a_misspelt_vendor_key_is_named_not_ignored(sandbox):
    config = triggers_only(sandbox)
    config["infinty"] = config.pop("infinity")
    run = run_tap(config)
    assert run.returncode == 1
    assert "Invalid setting 'infinty': unknown setting; did you mean 'infinity'?" in run.stderr
    assert sandbox.ledger.requests == []
