"""Mintegral failures through the CLI: one clear line, the window named, no credential."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from tap_perfreports.sandbox import mintegral as emulated
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import run_tap, sandbox_config

PLUS8 = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 3, 10, 12, 30, tzinfo=PLUS8)
STREAM = "mintegral_performance"
ENV = {**os.environ, emulated.NOW_ENV: NOW.isoformat()}


@pytest.fixture
def mintegral(sandbox):
    emulator = sandbox.emulators["mintegral"]
    emulator.now = NOW
    emulator.generation_delay = 0.0
    return emulator


def one_day(sandbox, **settings):
    return sandbox_config(sandbox, "mintegral", "2026-03-01", "2026-03-01", **settings)


def answer(code: int, message: str) -> bytes:
    return json.dumps({"code": code, "msg": message, "data": None}).encode()


def assert_one_clear_line(run, *parts: str) -> None:
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    for part in parts:
        assert part in run.last_log_line


def test_a_wrong_api_key_fails_in_one_line_without_the_key(sandbox, mintegral):
    run = run_tap(one_day(sandbox, api_key="wrong-mintegral-key-9f3"), env=ENV)
    assert_one_clear_line(
        run, f"stream {STREAM}", "window 2026-03-01", "HTTP 401", "token is invalid", "api_key"
    )
    assert "wrong-mintegral-key-9f3" not in run.stdout + run.stderr
    assert [r.status for r in sandbox.ledger.requests] == [401]


def test_a_forbidden_combination_fails_before_any_request(sandbox, mintegral):
    reports = [{"name": "bad", "dimensions": ["Creative", "Sub"]}]
    run = run_tap(one_day(sandbox, reports=reports), env=ENV)
    assert_one_clear_line(
        run, "mintegral.reports[bad].dimensions", "Creative cannot be combined with Sub"
    )
    assert sandbox.ledger.requests == []


def test_code_10000_fails_with_the_vendors_message_and_the_window(sandbox, mintegral):
    sandbox.faults.add(Fault("body", vendor="mintegral", body=answer(10000, "No permission")))
    run = run_tap(one_day(sandbox), env=ENV)
    assert_one_clear_line(
        run, "window 2026-03-01", "code 10000: No permission", "mintegral.reports"
    )


@pytest.mark.parametrize(
    ("code", "next_type"),
    [(203, "1"), (204, "1"), (205, "1")],
)
def test_a_download_that_is_not_ready_goes_back_to_polling(sandbox, mintegral, code, next_type):
    # requests: type=1 (201), type=1 (200), type=2 -> answered with `code` instead
    sandbox.faults.add(Fault("body", vendor="mintegral", skip=2, body=answer(code, f"code {code}")))
    run = run_tap(one_day(sandbox), env=ENV)
    assert run.returncode == 0, run.stderr
    kinds = [r.query["type"][0] for r in sandbox.ledger.requests]
    assert kinds[:4] == ["1", "1", "2", next_type]
    assert kinds[-1] == "2"
    expected = emulated.report_rows(
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 1),
        ("Offer", "Campaign", "Location"),
        "daily",
        tz=PLUS8,
        as_of=NOW,
    )
    assert len(run.records(STREAM)) == len(expected)
    assert run.state["bookmarks"][STREAM]["replication_key_value"] == "2026-03-01"


def test_a_job_forgotten_again_and_again_fails_clearly(sandbox, mintegral):
    sandbox.faults.add(
        Fault("body", vendor="mintegral", skip=2, times=-1, body=answer(203, "no such request"))
    )
    run = run_tap(one_day(sandbox), env=ENV)
    assert_one_clear_line(run, "window 2026-03-01", "code 203 after 3 resubmissions")


def test_a_report_that_is_never_generated_times_out_naming_the_window(sandbox, mintegral):
    mintegral.generation_delay = 60
    run = run_tap(one_day(sandbox, poll_timeout_seconds=1), env=ENV)
    assert_one_clear_line(
        run, "window 2026-03-01", "still not ready", "last code 202", "poll_timeout_seconds"
    )
    # the job stays in the state, so the next run polls it instead of submitting anew
    jobs = [
        state["bookmarks"][STREAM].get("jobs")
        for state in run.states
        if STREAM in state.get("bookmarks", {})
    ]
    assert jobs[-1][0]["start"] == jobs[-1][0]["end"] == "2026-03-01"


def test_an_unreadable_answer_is_a_parse_error_naming_the_window(sandbox, mintegral):
    sandbox.faults.add(Fault("body", vendor="mintegral", body=b"<html>gateway</html>"))
    run = run_tap(one_day(sandbox), env=ENV)
    assert_one_clear_line(run, "window 2026-03-01", "unreadable answer")


def test_server_errors_are_retried_with_a_fresh_token(sandbox, mintegral):
    sandbox.faults.add(Fault("status", vendor="mintegral", status=503, times=2))
    run = run_tap(one_day(sandbox), env=ENV)
    assert run.returncode == 0, run.stderr
    assert [r.status for r in sandbox.ledger.requests][:3] == [503, 503, 200]
    assert run.records(STREAM)
