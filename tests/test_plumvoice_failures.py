"""Plum Voice through the CLI when the vendor refuses: loud, one line, no credentials."""

from __future__ import annotations

import pytest

from tap_perfreports.sandbox import plumvoice as emulated
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import run_tap, sandbox_config

STREAM = "plumvoice_performance"


def config(sandbox, **settings):
    return sandbox_config(sandbox, "plumvoice", "2026-10-01", "2026-10-04", **settings)


def assert_one_clear_line(run, *, secret: str = emulated.PASSWORD) -> str:
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr + run.stdout
    return run.last_log_line


def test_expired_credentials_fail_at_once_saying_to_renew_them(sandbox):
    password = "expired-Temp0rary!"
    run = run_tap(config(sandbox, username="someone", password=password))
    line = assert_one_clear_line(run, secret=password)
    assert len(sandbox.ledger.requests) == 1, "a 401 must not be retried"
    assert "HTTP 401: Authentication failed." in line
    assert "expire 24 hours after their last use" in line
    assert "renew them" in line
    assert "stream plumvoice_performance | phone=ALL, period=day" in line
    assert "window 2026-10-01..2026-10-04" in line


@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_a_refused_parameter_names_the_vendor_message_and_the_parameters(sandbox, response_format):
    run = run_tap(config(sandbox, phones=["6175559999"], format=response_format))
    line = assert_one_clear_line(run)
    # the XML error arrives labelled application/json; the message is read either way
    assert "HTTP 400: Invalid phone parameter." in line
    assert "phone=6175559999" in line
    assert "start=20261001 end=20261004" in line
    assert "check plumvoice.phones" in line
    assert len(sandbox.ledger.requests) == 1


def test_a_405_says_what_the_documentation_contradicts(sandbox):
    sandbox.faults.add(Fault("status", vendor="plumvoice", status=405))
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert "HTTP 405: Invalid HTTP method." in line
    assert "This tap sends GET, as the route is documented" in line


def test_server_errors_are_retried_then_give_up_with_what_to_do(sandbox):
    sandbox.faults.add(Fault("status", vendor="plumvoice", status=500, times=2))
    run = run_tap(config(sandbox, phones=["ALL", emulated.PHONES[0]]))
    assert run.returncode == 0, run.stderr
    assert len(run.records(STREAM)) == 2 * 4
    assert run.stderr.count("HTTP 500: Unknown error.; retry") == 2

    sandbox.faults.add(Fault("status", vendor="plumvoice", status=500, times=-1))
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert "HTTP 500: Unknown error. (gave up after 8 tries)" in line
    assert "run again later" in line


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":"Report temporarily unavailable."}',
        b'<?xml version="1.0"?>\n<result>\n  <error>Report temporarily unavailable.</error>\n'
        b"</result>\n",
    ],
)
def test_an_error_inside_a_200_is_an_error_not_an_empty_report(sandbox, body):
    sandbox.faults.add(Fault("body", vendor="plumvoice", body=body))
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert "Report temporarily unavailable." in line


def test_a_malformed_body_fails_and_leaves_the_window_unfinished(sandbox):
    sandbox.faults.add(Fault("body", vendor="plumvoice", body=b'{"calls":{"1759291200":"x"}}'))
    run = run_tap(config(sandbox))
    line = assert_one_clear_line(run)
    assert "unreadable response (calls at 1759291200: expected an integer" in line
    assert run.records(STREAM) == []
    assert run.bookmarks(STREAM) in ({}, {'{"period": "day", "phone": "ALL"}': None})


def test_a_truncated_body_is_retried_not_parsed(sandbox):
    sandbox.faults.add(Fault("truncate", vendor="plumvoice", after_bytes=200))
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    assert len(run.records(STREAM)) == 4
    assert "cut off" in run.stderr


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"period": "hourly"}, "period"),
        ({"format": "csv"}, "format"),
        ({"phones": ["ALL", "ALL"]}, "plumvoice.phones"),
        ({"phones": []}, "plumvoice.phones"),
        ({"requests_per_window": 0}, "requests_per_window"),
        ({"window_seconds": 0}, "window_seconds"),
    ],
)
def test_bad_config_fails_before_any_request_naming_the_setting(sandbox, settings, setting):
    run = run_tap(config(sandbox, **settings))
    assert run.returncode == 1
    assert setting in run.stderr
    assert "Traceback" not in run.stderr
    assert sandbox.ledger.requests == []


def test_missing_credentials_are_a_config_error_outside_the_sandbox(sandbox):
    settings = config(sandbox, username="someone")
    settings["sandbox"] = False
    run = run_tap(settings)
    assert run.returncode == 1
    assert "Invalid setting 'plumvoice.password': required" in run.last_log_line
    assert sandbox.ledger.requests == []
