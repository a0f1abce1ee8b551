"""The Mintegral emulator's state machine, spoken to over HTTP like the real API."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest
import requests

from tap_perfreports.sandbox import mintegral as emulated

PLUS8 = dt.timezone(dt.timedelta(hours=8))
#: The emulator's frozen clock: 2026-03-10 12:30 in +8 (04:30 UTC).
NOW = dt.datetime(2026, 3, 10, 12, 30, tzinfo=PLUS8)


def signed(api_key: str = emulated.API_KEY, skew: int = 0) -> dict[str, str]:
    """The three auth headers, computed here independently of the tap."""
    stamp = str(int(time.time()) + skew)
    inner = hashlib.md5(stamp.encode()).hexdigest()
    token = hashlib.md5((api_key + inner).encode()).hexdigest()
    return {"access-key": emulated.ACCESS_KEY, "timestamp": stamp, "token": token}


@pytest.fixture
def api(sandbox):
    emulator = sandbox.emulators["mintegral"]
    emulator.now = NOW
    emulator.generation_delay = 0.3
    url = sandbox.url("mintegral") + "/reports/data"

    def call(
        kind: int,
        start: str = "2026-03-01",
        end: str = "2026-03-01",
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> requests.Response:
        query = {
            "start_time": start,
            "end_time": end,
            "type": kind,
            "dimension_option": "Offer,Location",
            **params,
        }
        return requests.get(url, params=query, headers=headers or signed(), timeout=10)

    call.emulator = emulator  # type: ignore[attr-defined]
    return call


def code(response: requests.Response) -> int:
    assert response.status_code == 200
    return response.json()["code"]


def wait_until_generated(api, **params) -> requests.Response:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = api(1, **params)
        if code(response) == 200:
            return response
        time.sleep(0.05)
    raise AssertionError("never generated")


def test_submit_generate_then_download_as_octet_stream(api):
    assert code(api(2)) == 203  # nothing submitted for these conditions yet
    assert code(api(1)) == 201
    assert code(api(1)) == 202
    assert code(api(2)) == 204
    ready = wait_until_generated(api)
    assert ready.json()["data"] == {"hours": 24, "is_complete": True}
    download = api(2)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/octet-stream"
    lines = download.content.decode().splitlines()
    assert lines[0].split("\t") == [
        "Date", "Offer Id", "Offer Uuid", "Offer Name", "Location", "Currency",
        "Impression", "Click", "Conversion", "Ecpm", "Cpc", "Ctr", "Cvr", "Ivr", "Spend",
    ]  # fmt: skip
    rows = [line.split("\t") for line in lines[1:]]
    expected = emulated.report_rows(
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 1),
        ("Offer", "Location"),
        "daily",
        tz=PLUS8,
        as_of=NOW,
    )
    assert len(rows) == len(expected) > 5
    assert {row[0] for row in rows} == {"20260301"}
    assert sum(int(row[6]) for row in rows) == sum(
        atom["Impression"] for atom in emulated.atoms_on(dt.date(2026, 3, 1))
    )


def test_the_same_conditions_are_the_same_job(api):
    assert code(api(1)) == 201
    assert code(api(1, dimension_option="Location,Offer")) == 202  # order does not matter
    assert code(api(1, dimension_option="Offer")) == 201  # other dimensions: another job
    assert code(api(1, timezone="-5")) == 201
    assert sum(api.emulator.generations.values()) == 3


def test_expired_reports_answer_205_and_are_regenerated(api):
    api(1)
    wait_until_generated(api)
    api.emulator.retention_seconds = 0.0
    time.sleep(0.01)
    assert code(api(2)) == 205
    api.emulator.retention_seconds = 3600.0
    assert code(api(1)) == 202
    assert code(wait_until_generated(api)) == 200
    assert api(2).headers["Content-Type"] == "application/octet-stream"


def test_today_is_incomplete_and_regenerated_once_more_hours_are_published(api):
    # 12:30 in +8: hours 0..10 are published (each 1.5 h after it ends)
    api(1, start="2026-03-09", end="2026-03-10")
    first = wait_until_generated(api, start="2026-03-09", end="2026-03-10").json()["data"]
    assert first == {"hours": 24 + 11, "is_complete": False}
    api.emulator.now = NOW + dt.timedelta(hours=3)
    assert code(api(1, start="2026-03-09", end="2026-03-10")) == 202
    later = wait_until_generated(api, start="2026-03-09", end="2026-03-10").json()["data"]
    assert later == {"hours": 24 + 14, "is_complete": False}
    rows = api(2, start="2026-03-09", end="2026-03-10").content.decode().splitlines()[1:]
    assert {row.split("\t")[0] for row in rows} == {"20260309", "20260310"}


def test_yesterday_is_complete_only_after_half_past_one(api):
    api.emulator.now = dt.datetime(2026, 3, 11, 1, 29, tzinfo=PLUS8)
    api(1, start="2026-03-10", end="2026-03-10")
    data = wait_until_generated(api, start="2026-03-10", end="2026-03-10").json()["data"]
    assert data == {"hours": 23, "is_complete": False}
    api.emulator.now = dt.datetime(2026, 3, 11, 1, 30, tzinfo=PLUS8)
    api(1, start="2026-03-10", end="2026-03-10")
    data = wait_until_generated(api, start="2026-03-10", end="2026-03-10").json()["data"]
    assert data == {"hours": 24, "is_complete": True}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-03-01", "end": "2026-03-08"}, "no more than 7 days"),
        ({"start": "2026-03-05", "end": "2026-03-04"}, "before start_time"),
        ({"start": "2025-09-09", "end": "2025-09-10"}, "last half year"),
        ({"start": "March 1"}, "YYYY-mm-dd"),
        ({"dimension_option": "Creative,Sub"}, "Creative with Sub"),
        ({"dimension_option": "Package,Creative"}, "Creative with Package"),
        ({"dimension_option": "Endcard,Sub"}, "Endcard with Sub"),
        ({"dimension_option": "Endcard,Package"}, "Endcard with Package"),
        ({"dimension_option": "Creative", "time_granularity": "hourly"}, "Creative with time"),
        ({"dimension_option": "Endcard", "time_granularity": "hourly"}, "Endcard with time"),
        ({"dimension_option": "Offers"}, "not supported"),
        ({"time_granularity": "weekly"}, "not supported"),
        ({"timezone": "Asia/Shanghai"}, "timezone"),
        ({"type": 3}, "type must be 1 or 2"),
    ],
)
def test_refusals_are_code_10000(api, params, message):
    kind = params.pop("type", 1)
    answer = api(kind, **params).json()
    assert answer["code"] == 10000
    assert message in answer["msg"]


def test_the_half_year_limit_follows_the_clock(api):
    # 2026-03-10 minus six months is 2025-09-10: that day is allowed, the one before is not
    assert code(api(1, start="2025-09-10", end="2025-09-10")) == 201
    assert code(api(1, start="2025-09-09", end="2025-09-09")) == 10000


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (lambda: signed(api_key="wrong"), "token is invalid"),
        (lambda: signed(skew=-605), "timestamp has expired"),
        (lambda: signed(skew=605), "timestamp has expired"),
        (lambda: {**signed(), "access-key": "other"}, "access-key is invalid"),
        (lambda: {"access-key": emulated.ACCESS_KEY}, "timestamp is missing"),
    ],
)
def test_credentials_are_checked_on_every_request(api, headers, message):
    response = api(1, headers=headers())
    assert response.status_code == 401
    assert response.json()["msg"] == message


def test_a_fresh_token_within_the_allowed_skew_is_accepted(api):
    assert code(api(1, headers=signed(skew=-500))) == 201
