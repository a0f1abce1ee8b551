"""Adobe Target when things fail: loud, one line, and the password (sent in the query
string) never in any output, whatever the failure.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import quote, quote_plus

import pytest

from tap_perfreports.sandbox import adobe_target as emulated
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import fixture_bytes, run_tap, sandbox_config

#: Characters that URL-encode differently in each form, to catch any encoded leak.
PASSWORD = "Tt-S3cret pass&word/+%"
WINDOW = "window 2026-08-01..2026-08-03"


def config(sandbox, **settings):
    settings = {"campaign_ids": [7], "metric_types": ["visit"], **settings}
    return sandbox_config(sandbox, "adobe_target", "2026-08-01", "2026-08-03", **settings)


def assert_password_absent(run, password: str = emulated.PASSWORD) -> None:
    captured = run.stdout + run.stderr
    for form in {password, quote(password, safe=""), quote_plus(password), quote(password)}:
        assert form not in captured, "the password appeared in the output"


def assert_one_clear_line(run, password: str = emulated.PASSWORD) -> str:
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert_password_absent(run, password)
    return run.last_log_line


def requests(sandbox) -> list:
    return [r for r in sandbox.ledger.requests if r.vendor == "adobe_target"]


def test_a_wrong_login_fails_at_once_saying_to_check_client_email_and_password(sandbox):
    run = run_tap(config(sandbox, password=PASSWORD))
    line = assert_one_clear_line(run, PASSWORD)
    assert len(requests(sandbox)) == 1, "a 401 must not be retried"
    # the sandbox received the password, URL-encoded, in the query string
    assert requests(sandbox)[0].query["password"] == [PASSWORD]
    assert "the API answered with error 401: Invalid email or password supplied." in line
    assert "Check client, email and password" in line
    assert "campaign_id=7, metric_type=visit" in line
    assert WINDOW in line


def test_an_http_401_with_the_error_body_says_the_same(sandbox):
    sandbox.faults.add(Fault("status", vendor="adobe_target", status=401))
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert "HTTP 401: Invalid email or password supplied. (code 401)" in line
    assert "Check client, email and password" in line


def test_an_unknown_campaign_says_to_check_campaign_ids(sandbox):
    line = assert_one_clear_line(run_tap(config(sandbox, campaign_ids=[999])))
    assert "error 404: Campaign 999 not found." in line
    assert "Check adobe_target.campaign_ids" in line


def test_an_unknown_environment_names_the_setting(sandbox):
    line = assert_one_clear_line(run_tap(config(sandbox, environment="Nowhere")))
    assert "error 400: Unknown environment." in line
    assert "adobe_target.environment" in line


def test_a_login_error_body_under_http_500_fails_at_once(sandbox):
    error = fixture_bytes("adobe_target", "doc_error.xml")
    sandbox.faults.add(Fault("status", vendor="adobe_target", status=500, body=error, times=-1))
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert len(requests(sandbox)) == 1, "the body's code 401 decides: no retry"
    assert "the API answered with error 401" in line
    assert "Check client, email and password" in line


def test_server_errors_are_retried_then_give_up(sandbox):
    sandbox.faults.add(Fault("status", vendor="adobe_target", status=500, times=2))
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("HTTP 500: Internal error. (code 500); retry") == 2
    assert len(run.records("adobe_target_steps")) > 0
    assert_password_absent(run)

    sandbox.faults.add(Fault("status", vendor="adobe_target", status=500, times=-1))
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert "gave up after 8 tries" in line
    assert "run again later" in line


def test_an_error_body_with_a_server_code_inside_a_200_is_retried(sandbox):
    body = b"<error><message>Report busy</message><code>503</code></error>"
    sandbox.faults.add(Fault("body", vendor="adobe_target", body=body))
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    assert "the API answered with error 503: Report busy; retry 1" in run.stderr
    assert_password_absent(run)


def test_the_documented_error_body_inside_a_200_is_not_an_empty_report(sandbox):
    sandbox.faults.add(
        Fault("body", vendor="adobe_target", body=fixture_bytes("adobe_target", "doc_error.xml"))
    )
    line = assert_one_clear_line(run_tap(config(sandbox)))
    assert "Email: my_email@abc.com" in line
    assert "Check client, email and password" in line


@pytest.mark.parametrize(
    "fault",
    [
        Fault("drop", vendor="adobe_target", times=2),
        Fault("reset", vendor="adobe_target", after_bytes=300, times=2),
        Fault("truncate", vendor="adobe_target", after_bytes=300, times=2),
        Fault("delay", vendor="adobe_target", delay=0.5, times=2),
    ],
    ids=lambda fault: fault.kind,
)
def test_broken_connections_are_retried_and_the_password_stays_hidden(sandbox, fault):
    sandbox.faults.add(fault)
    run = run_tap(config(sandbox, password=emulated.PASSWORD))
    assert run.returncode == 0, run.stderr
    assert len(run.records("adobe_target_recipes")) > 0
    retried = fault.kind != "delay"
    assert run.stderr.count("; retry") == (2 if retried else 0)
    assert_password_absent(run)


def test_a_request_that_times_out_is_retried_without_showing_the_password(sandbox):
    sandbox.faults.add(Fault("delay", vendor="adobe_target", delay=4.0))
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    assert "the request timed out; retry 1 of 7" in run.stderr
    assert len(run.records("adobe_target_steps")) > 0
    assert_password_absent(run)


def test_a_refused_connection_gives_up_without_showing_the_password(sandbox):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = config(sandbox, password=PASSWORD)
    cfg["adobe_target"]["api_url"] = f"http://127.0.0.1:{port}/adobe_target/api"
    run = run_tap(cfg)
    line = assert_one_clear_line(run, PASSWORD)
    assert "connection failed (ConnectionError)" in line
    assert "gave up after 8 tries" in line
    assert run.stderr.count("connection failed (ConnectionError); retry") == 7


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Service Unavailable</body></html>", b"\x00\x01 not xml", b""],
    ids=["html", "binary", "empty"],
)
def test_a_body_that_is_not_a_report_fails_naming_the_window(sandbox, body):
    sandbox.faults.add(Fault("body", vendor="adobe_target", body=body, times=-1))
    line = assert_one_clear_line(run_tap(config(sandbox, password=emulated.PASSWORD)))
    assert "unreadable response" in line
    assert WINDOW in line


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"campaign_ids": []}, "adobe_target.campaign_ids"),
        ({"campaign_ids": [7, 7]}, "adobe_target.campaign_ids"),
        ({"password": ""}, "adobe_target.password"),
        ({"metric_types": []}, "adobe_target.metric_types"),
        ({"metric_types": ["clicks"]}, "adobe_target.metric_types"),
        ({"resolution": "minute"}, "adobe_target.resolution"),
        ({"segments": "some"}, "adobe_target.segments"),
        ({"requests_per_window": 0}, "adobe_target.requests_per_window"),
        ({"window_seconds": 0}, "adobe_target.window_seconds"),
    ],
)
def test_bad_settings_fail_before_any_request_naming_the_setting(sandbox, settings, setting):
    run = run_tap(config(sandbox, **settings))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert setting in run.last_log_line
    assert requests(sandbox) == []


def test_campaign_ids_are_required_outside_the_sandbox(tmp_path):
    cfg = {
        "start_date": "2026-08-01",
        "end_date": "2026-08-02",
        "adobe_target": {"client": "c", "email": "e@example.com", "password": PASSWORD},
    }
    run = run_tap(cfg)
    assert run.returncode == 1
    assert "adobe_target.campaign_ids" in run.last_log_line
    assert_password_absent(run, PASSWORD)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/adobe_target/api"


@pytest.mark.parametrize(
    ("failure", "exit_code"),
    [
        ("wrong-login", 1),
        ("http-500", 1),
        ("timeout", 0),
        ("reset", 0),
        ("malformed", 0),
        ("not-xml", 1),
        ("refused", 1),
    ],
)
def test_at_debug_level_the_password_never_appears_whatever_fails(sandbox, failure, exit_code):
    """urllib3 logs every request's URL at DEBUG: the query string holds the password."""
    password = PASSWORD if failure in ("wrong-login", "refused") else emulated.PASSWORD
    cfg = config(sandbox, password=password)
    if failure == "http-500":
        sandbox.faults.add(Fault("status", vendor="adobe_target", status=500, times=-1))
    elif failure == "timeout":
        sandbox.faults.add(Fault("delay", vendor="adobe_target", delay=4.0))
    elif failure == "reset":
        sandbox.faults.add(Fault("reset", vendor="adobe_target", after_bytes=300))
    elif failure == "malformed":
        sandbox.emulators["adobe_target"].malformed = True
    elif failure == "not-xml":
        sandbox.faults.add(Fault("body", vendor="adobe_target", body=b"<html>", times=-1))
    elif failure == "refused":
        cfg["adobe_target"]["api_url"] = closed_port_url()
    run = run_tap(cfg, env={**os.environ, "LOGLEVEL": "DEBUG"})
    assert run.returncode == exit_code, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert_password_absent(run, password)
    assert "| DEBUG" in run.stderr
    if failure != "refused":  # the URL was logged, with the password masked
        assert '"GET /adobe_target/api?client=sandboxclient&' in run.stderr
        assert "&password=***&" in run.stderr
