"""The CityGrid emulator on its own: what the docs say the API does."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json

import pytest

from tap_perfreports.sandbox import citygrid as emulated
from tap_perfreports.sandbox.emulator import SandboxRequest

pytestmark = pytest.mark.unit

PATH = "/ads/performance/v2/daily"
NOON_FRIDAY = dt.datetime(2026, 11, 20, 12, tzinfo=emulated.PACIFIC)


def call(query: dict[str, list[str]], accept: str = "application/json", login=None):
    user, password = login or (emulated.USERNAME, emulated.PASSWORD)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Accept": accept}
    emulator = emulated.CityGridEmulator()
    emulator.now = NOON_FRIDAY
    return emulator.handle(SandboxRequest("GET", PATH, query, headers))


def test_defaults_are_overall_yesterday_and_every_code_of_the_login():
    response = call({})
    assert response.status == 200
    report = json.loads(response.body)
    assert report["view_type"] == "overall"
    assert report["placements"] is None
    assert (report["from"], report["to"]) == ("2026-11-19", "2026-11-19")
    assert report["publisher_codes"] == list(emulated.PLACEMENTS)
    assert set(report) >= {"total_billable_connections", "total_revenue", "total_ltc_revenue"}


def test_repeated_placements_are_merged_counts_summed():
    query = {
        "publisher_code": ["guest"],
        "view_type": ["ads"],
        "report_time": ["last30Days"],
        "placement": ["placement_1", "placement_2"],
    }
    merged = json.loads(call(query).body)["daily_results"]
    singles = [
        json.loads(call({**query, "placement": [p]}).body)["daily_results"]
        for p in ("placement_1", "placement_2")
    ]
    assert json.loads(call(query).body)["placements"] == ["placement_1", "placement_2"]
    for row in merged:
        parts = [r for rows in singles for r in rows if r["date"] == row["date"]]
        assert row["impressions"] == sum(p["impressions"] for p in parts)
        assert row["billable_clicks"] == sum(p["billable_clicks"] for p in parts)
    without = json.loads(call({k: v for k, v in query.items() if k != "placement"}).body)
    assert without["daily_results"] == merged  # guest has exactly these two placements


def test_csv_has_the_view_types_headers_quoted_cells_and_a_total_row():
    for view, first in (("overall", "Date Recorded"), ("ads", "Date"), ("placesThatPay", "Date")):
        response = call({"view_type": [view], "report_time": ["last7Days"]}, "application/csv")
        text = response.body.decode()
        lines = text.splitlines()
        assert all(line.startswith('"') and line.endswith('"') for line in lines)
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][0] == first
        assert rows[-1][0] == "Total: "
        assert len(rows[0]) == 1 + len(emulated.METRICS[view])


@pytest.mark.parametrize(
    ("query", "accept", "login", "status"),
    [
        ({}, "application/json", ("someone", "wrong"), 401),
        ({}, "application/xml", None, 406),
        ({}, "", None, 406),
        ({"view_type": ["daily"]}, "application/json", None, 400),
        ({"report_time": ["last90Days"]}, "application/json", None, 400),
        ({"start_date": ["2026-11-01"]}, "application/json", None, 400),
        ({"publisher_code": ["pub_locked"]}, "application/json", None, 403),
    ],
)
def test_documented_errors(query, accept, login, status):
    assert call(query, accept, login).status == status


def test_the_clock_follows_the_environment_when_not_set(monkeypatch):
    monkeypatch.setenv(emulated.NOW_ENV, "2026-03-09T04:00:00+00:00")
    assert emulated.CityGridEmulator().clock() == dt.datetime(2026, 3, 9, 4, tzinfo=dt.UTC)


def test_totals_sum_the_counts_and_derive_the_rates_from_the_sums():
    report = json.loads(call({"view_type": ["ads"], "report_time": ["last30Days"]}).body)
    rows = report["daily_results"]
    assert len(rows) > 20
    impressions = sum(row["impressions"] for row in rows)
    revenue = sum(row["revenue"] for row in rows)
    assert report["total_impressions"] == impressions
    assert isinstance(report["total_impressions"], int)
    assert report["total_revenue"] == round(revenue, 2)
    bidded = sum(row["bidded_impressions"] for row in rows)
    # the doc's ads example: total_rpm 1075.0 = 21.5 / 20 bidded impressions * 1000
    assert report["total_rpm"] == round(revenue * 1000 / bidded, 2)
    assert report["total_coverage"] == round(bidded * 100 / impressions, 2)


def test_a_frozen_clock_without_an_offset_is_refused(monkeypatch):
    monkeypatch.setenv(emulated.NOW_ENV, "2026-03-09T04:00:00")
    with pytest.raises(ValueError, match="no UTC offset"):
        emulated.CityGridEmulator().clock()
