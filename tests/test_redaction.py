"""Credentials never reach a log line or traceback, whichever library writes it."""

from __future__ import annotations

import base64
import logging
import socket
import traceback

import backoff
import pytest
import requests

from tap_perfreports import redact as redaction
from tap_perfreports.errors import RequestFailed
from tap_perfreports.http import Backoff, HttpClient

pytestmark = pytest.mark.unit

SECRET = "s3cr&t pa/ss+word"


@pytest.fixture(autouse=True)
def registered_secret():
    redaction.redact.add(SECRET)
    redaction.redact.add_basic_auth("user@example.com", SECRET)
    redaction.install()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def every_form(secret: str) -> list[str]:
    from urllib.parse import quote, quote_plus

    token = base64.b64encode(f"user@example.com:{secret}".encode()).decode()
    return [secret, quote(secret, safe=""), quote_plus(secret), token]


def test_every_encoding_of_a_secret_is_masked():
    for form in every_form(SECRET):
        assert form not in redaction.redact(f"GET /api?password={form}&x=1")
        assert "***" in redaction.redact(f"GET /api?password={form}&x=1")


def test_short_values_are_not_treated_as_secrets():
    redaction.redact.add("ab")
    assert redaction.redact("abc") == "abc"


def test_log_arguments_and_tracebacks_are_masked(caplog):
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        logger.warning("failed url %s", f"https://x/api?password={SECRET}")
        try:
            raise ValueError(f"boom {SECRET}")
        except ValueError:
            logger.exception("while fetching")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert SECRET not in text
    assert "boom ***" in text


def test_backoff_library_messages_are_masked(caplog):
    url = f"http://127.0.0.1:{free_port()}/api?password={requests.utils.quote(SECRET)}"

    @backoff.on_exception(backoff.constant, requests.ConnectionError, max_tries=2, interval=0)
    def fetch():
        requests.get(url, timeout=2)

    with caplog.at_level(logging.INFO, logger="backoff"), pytest.raises(requests.ConnectionError):
        fetch()
    backoff_lines = [r.getMessage() for r in caplog.records if r.name == "backoff"]
    assert backoff_lines, "backoff logged nothing: the test would prove nothing"
    for form in every_form(SECRET):
        assert form not in caplog.text


def test_urllib3_debug_lines_are_masked(caplog, sandbox):
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        requests.get(sandbox.base_url + "/nowhere", params={"password": SECRET}, timeout=5)
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for form in every_form(SECRET):
        assert form not in caplog.text


def test_a_refused_connection_fails_without_the_secret(caplog):
    client = HttpClient("Example", retry=Backoff(max_tries=2, first_seconds=0.01))
    url = f"http://127.0.0.1:{free_port()}/api"
    with caplog.at_level(logging.DEBUG), pytest.raises(RequestFailed) as failure:
        client.fetch(url, where="stream x", params={"password": SECRET}, auth=("u", SECRET))
    message = str(failure.value)
    assert "stream x" in message
    assert "gave up after 2 tries" in message
    rendered = "".join(traceback.format_exception(failure.value))
    for form in every_form(SECRET):
        assert form not in message
        assert form not in caplog.text
        assert form not in rendered
