"""The Plum Voice emulator keeps the documented contract the tap is tested against."""

from __future__ import annotations

import datetime as dt

import requests

from tap_perfreports.sandbox import plumvoice as emulated

AUTH = (emulated.USERNAME, emulated.PASSWORD)


def url(sandbox, path: str) -> str:
    return f"{sandbox.url('plumvoice')}/performance/{path}"


def test_json_and_xml_per_accept_with_the_three_rate_limit_headers(sandbox):
    as_json = requests.get(url(sandbox, "20180201/20180208/day/ALL"), auth=AUTH, timeout=10)
    as_xml = requests.get(
        url(sandbox, "20180201/20180208/day/ALL"),
        auth=AUTH,
        headers={"Accept": "application/xml"},
        timeout=10,
    )
    assert as_json.headers["Content-Type"] == "application/json"
    assert sorted(as_json.json()["calls"]) == [str(1517461200 + n * 86400) for n in range(8)]
    assert as_xml.headers["Content-Type"] == "application/xml"
    assert as_xml.text.startswith('<?xml version="1.0"?>\n<result>\n  <calls>\n    <item ')
    assert as_json.headers["X-RateLimit-Limit"] == "150"
    assert as_json.headers["X-RateLimit-Remaining"] == "149"
    assert as_xml.headers["X-RateLimit-Remaining"] == "148"
    assert int(as_json.headers["X-RateLimit-Reset"]) % 900 == 0


def test_a_partly_covered_period_counts_only_the_covered_days(sandbox):
    # 2026-11-11 is a Wednesday: the week of Monday 2026-11-09 is cut short
    answer = requests.get(url(sandbox, "20261111/20261115/week/ALL"), auth=AUTH, timeout=10)
    (stamp, calls), *_ = answer.json()["calls"].items()
    monday = dt.date(2026, 11, 9)
    assert int(stamp) == emulated.local_midnight(monday)
    assert calls == emulated.metrics("ALL", "week", monday, first=dt.date(2026, 11, 11))["calls"]
    assert calls != emulated.metrics("ALL", "week", monday)["calls"]


def test_the_rate_limit_refuses_the_request_over_budget_until_the_reset(sandbox):
    emulator = sandbox.emulators["plumvoice"]
    emulator.requests_per_window, emulator.window_seconds = 2, 3600.0
    answers = [
        requests.get(url(sandbox, "20261101/20261101/day/ALL"), auth=AUTH, timeout=10)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[2].json() == {"error": "Rate limit exceeded."}
    assert len({a.headers["X-RateLimit-Reset"] for a in answers}) == 1


def test_documented_errors(sandbox):
    bad_start = requests.get(
        url(sandbox, "2026-11-01/20261101/day/ALL"),
        auth=AUTH,
        headers={"Accept": "application/xml"},
        timeout=10,
    )
    assert bad_start.status_code == 400
    # as documented: an XML body labelled application/json
    assert bad_start.headers["Content-Type"] == "application/json"
    assert "<error>Invalid start parameter.</error>" in bad_start.text
    bad_period = requests.get(url(sandbox, "20261101/20261101/hour/ALL"), auth=AUTH, timeout=10)
    assert bad_period.json() == {"error": "Invalid period parameter."}
    wrong_login = requests.get(url(sandbox, "20261101/20261101/day/ALL"), timeout=10)
    assert wrong_login.status_code == 401
    post = requests.post(url(sandbox, "20261101/20261101/day/ALL"), auth=AUTH, timeout=10)
    assert post.status_code == 405
