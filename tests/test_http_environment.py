"""The HTTP client reads proxies and the CA bundle from the environment once per origin,
and still honours them as requests would (HTTP_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE)."""

from __future__ import annotations

import pytest

from tap_perfreports.errors import RequestFailed
from tap_perfreports.http import Backoff, HttpClient

#: Nothing listens on port 1 of loopback: a proxy there refuses every connection.
DEAD_PROXY = "http://127.0.0.1:1"


def client() -> HttpClient:
    return HttpClient("Plum Voice", retry=Backoff(max_tries=1))


def fetch(sandbox) -> bytes:
    url = f"{sandbox.url('plumvoice')}/performance/20260101/20260102/day/ALL"
    return client().fetch(url, where="test", auth=("sandbox-plumvoice-login", "x")).read()


@pytest.fixture
def no_proxy_settings(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_is_used(sandbox, no_proxy_settings):
    no_proxy_settings.setenv("HTTP_PROXY", DEAD_PROXY)
    with pytest.raises(RequestFailed, match="connection failed"):
        fetch(sandbox)


def test_no_proxy_exempts_the_host(sandbox, no_proxy_settings):
    no_proxy_settings.setenv("HTTP_PROXY", DEAD_PROXY)
    no_proxy_settings.setenv("NO_PROXY", "127.0.0.1")
    with pytest.raises(RequestFailed, match="HTTP 401"):  # it reached the sandbox
        fetch(sandbox)


def test_settings_are_read_once_per_origin(no_proxy_settings, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    no_proxy_settings.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    no_proxy_settings.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    http = client()
    first = http.environment_settings("https://api.example.com/a?x=1")
    no_proxy_settings.setenv("HTTPS_PROXY", "http://other.example:3128")
    assert http.environment_settings("https://api.example.com/b") is first
    assert first == {"proxies": {"https": "http://proxy.example:3128"}, "verify": str(bundle)}
    assert http.environment_settings("https://other.example.com/")["proxies"] == {
        "https": "http://other.example:3128"
    }
