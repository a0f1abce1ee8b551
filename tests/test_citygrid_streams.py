"""CityGrid streams through the CLI against the sandbox, with the clock frozen in both."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from tap_perfreports.sandbox import citygrid as emulator
from tests.helpers import run_tap, sandbox_config

STREAMS = {
    "overall": "citygrid_overall",
    "ads": "citygrid_ads",
    "placesThatPay": "citygrid_places_that_pay",
}
NOON_FRIDAY = "2026-11-20T12:00:00-08:00"  # reporting today 2026-11-20, yesterday the 19th


def run_at(sandbox, moment: str, config: dict, state: dict | None = None):
    """Run the tap with the sandbox's and the tap's clocks frozen at `moment`."""
    sandbox.emulators["citygrid"].now = dt.datetime.fromisoformat(moment)
    return run_tap(config, state=state, env={**os.environ, emulator.NOW_ENV: moment})


def keys(records: list[dict]) -> list[tuple]:
    return [(r["publisher_code"], r["placement"], r["date"]) for r in records]


def truth(codes, placement: str, view: str, start: str, end: str) -> set[tuple]:
    """Days with a row, from the emulator's deterministic data."""
    found = set()
    day, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    while day <= last:
        for code in codes:
            placements = emulator.PLACEMENTS[code] if placement == "all" else [placement]
            if emulator.daily_row(code, placements, view, day):
                found.add((code, placement, day.isoformat()))
        day += dt.timedelta(days=1)
    return found


def served_within(sandbox, view: str, start: str, end: str) -> set[tuple]:
    return {k for k in sandbox.ledger.served_keys(f"citygrid:{view}") if start <= k[2] <= end}


def report_times(sandbox) -> list[str]:
    """The presets requested, sorted: requests fetched ahead arrive in any order."""
    return sorted(
        r.query["report_time"][0]
        for r in sandbox.ledger.requests
        if r.vendor == "citygrid" and "publisher_code" in r.query
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_backfill_lands_exactly_the_served_rows_of_every_view_type(sandbox, fmt):
    config = sandbox_config(sandbox, "citygrid", "2026-10-25", "2026-11-19", format=fmt)
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 0, run.stderr
    for view, stream in STREAMS.items():
        landed = keys(run.records(stream))
        assert len(landed) == len(set(landed)), f"{stream}: a primary key landed twice"
        expected = truth(emulator.PLACEMENTS, "all", view, "2026-10-25", "2026-11-19")
        assert 60 < len(expected) < 3 * 26  # 26 days x 3 codes, some days without a row
        assert set(landed) == expected
        assert set(landed) == served_within(sandbox, view, "2026-10-25", "2026-11-19")
        # the sandbox served days before the start (last30Days): the tap kept none
        assert served_within(sandbox, view, "2026-10-21", "2026-10-24")
        record = run.records(stream)[0]
        placements = emulator.PLACEMENTS[record["publisher_code"]]
        day = dt.date.fromisoformat(record["date"])
        row = emulator.daily_row(record["publisher_code"], placements, view, day)
        assert record == {"publisher_code": record["publisher_code"], "placement": "all", **row}
        assert set(run.bookmarks(stream).values()) == {"2026-11-19"}
    # one discovery request (no code: the login's codes), then one last30Days request per
    # code and view type
    discovery = [r for r in sandbox.ledger.requests if "publisher_code" not in r.query]
    assert [r.query for r in discovery] == [{"report_time": ["yesterday"]}]
    assert report_times(sandbox) == ["last30Days"] * 9


def test_placements_are_partitions_and_todays_partial_day_is_never_kept(sandbox):
    config = sandbox_config(
        sandbox,
        "citygrid",
        "2026-11-01",
        "2026-11-25",
        publisher_codes=["guest"],
        placements=["placement_1", "placement_2"],
        view_types=["ads"],
        format="csv",
    )
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 0, run.stderr
    assert run.streams == {"citygrid_ads", "perfreports_reconciliation"}
    landed = keys(run.records("citygrid_ads"))
    assert len(landed) == len(set(landed))
    expected = set()
    for placement in ("placement_1", "placement_2"):
        expected |= truth(["guest"], placement, "ads", "2026-11-01", "2026-11-19")
    assert set(landed) == expected
    assert report_times(sandbox) == ["thisMonth", "thisMonth"]
    served = sandbox.ledger.served_keys("citygrid:ads")
    assert any(k[2] == "2026-11-20" for k in served)  # thisMonth includes today, partial
    assert max(k[2] for k in landed) == "2026-11-19"
    requests = [r for r in sandbox.ledger.requests if r.vendor == "citygrid"]
    assert all(r.query["placement"] in (["placement_1"], ["placement_2"]) for r in requests)


@pytest.mark.parametrize(
    ("moment", "last_day"),
    [
        ("2026-11-20T20:59:59-08:00", "2026-11-19"),
        ("2026-11-20T21:00:00-08:00", "2026-11-20"),
        # March: Sunday 2026-03-08 lasts 23 hours; it ends at 21:00 PDT = 04:00 UTC
        ("2026-03-09T03:59:59+00:00", "2026-03-07"),
        ("2026-03-09T04:00:00+00:00", "2026-03-08"),
        # November: Sunday 2026-11-01 lasts 25 hours; it ends at 21:00 PST = 05:00 UTC
        ("2026-11-02T04:59:59+00:00", "2026-10-31"),
        ("2026-11-02T05:00:00+00:00", "2026-11-01"),
    ],
)
def test_the_last_day_extracted_follows_9pm_pacific_across_dst(sandbox, moment, last_day):
    day = dt.date.fromisoformat(last_day)
    start = (day - dt.timedelta(days=3)).isoformat()
    config = sandbox_config(
        sandbox, "citygrid", start, "2026-11-21", publisher_codes=["guest"], view_types=["overall"]
    )
    run = run_at(sandbox, moment, config)
    assert run.returncode == 0, run.stderr
    assert set(run.bookmarks("citygrid_overall").values()) == {last_day}
    landed = set(keys(run.records("citygrid_overall")))
    assert landed == truth(["guest"], "all", "overall", start, last_day)
    assert report_times(sandbox) == ["last7Days"]


def test_incremental_runs_pick_the_smallest_preset_for_the_lookback(sandbox):
    config = sandbox_config(
        sandbox,
        "citygrid",
        "2026-10-01",
        "2026-12-31",
        publisher_codes=["guest", "pub_seo"],
        view_types=["overall"],
        lookback_days=2,
    )
    first = run_at(sandbox, NOON_FRIDAY, config)
    assert first.returncode == 0, first.stderr
    assert report_times(sandbox) == ["thisQuarter", "thisQuarter"]
    sandbox.ledger.reset()
    # one day later (Saturday noon): yesterday is the 20th; lookback 2 -> 18th..20th
    second = run_at(sandbox, "2026-11-21T12:00:00-08:00", config, state=first.state)
    assert second.returncode == 0, second.stderr
    assert report_times(sandbox) == ["last7Days", "last7Days"]
    landed = set(keys(second.records("citygrid_overall")))
    assert landed == truth(["guest", "pub_seo"], "all", "overall", "2026-11-18", "2026-11-20")
    assert set(second.bookmarks("citygrid_overall").values()) == {"2026-11-20"}
    sandbox.ledger.reset()
    third = run_at(sandbox, "2026-11-21T12:00:00-08:00", config, state=second.state)
    assert third.returncode == 0
    assert report_times(sandbox) == ["last7Days", "last7Days"]  # the lookback only


def test_a_bookmark_older_than_every_preset_extracts_the_rest_and_names_lost_days(sandbox):
    config = sandbox_config(
        sandbox,
        "citygrid",
        "2026-01-01",
        "2026-11-19",
        publisher_codes=["guest"],
        view_types=["overall"],
        lookback_days=0,
    )
    state = {
        "bookmarks": {
            "citygrid_overall": {
                "partitions": [
                    {
                        "context": {"publisher_code": "guest", "placement": "all"},
                        "replication_key": "date",
                        "replication_key_value": "2026-06-20",
                    }
                ]
            }
        }
    }
    run = run_at(sandbox, NOON_FRIDAY, config, state=state)
    assert run.returncode == 0, run.stderr
    assert "days 2026-06-21..2026-06-30 can no longer be had" in run.stderr
    assert report_times(sandbox) == ["lastQuarter", "thisQuarter"]
    landed = set(keys(run.records("citygrid_overall")))
    assert landed == truth(["guest"], "all", "overall", "2026-07-01", "2026-11-19")
    # a STATE after each preset's days: the first marks the end of lastQuarter
    values = [
        p["replication_key_value"]
        for s in run.states
        for p in s["bookmarks"].get("citygrid_overall", {}).get("partitions", [])
    ]
    assert "2026-09-30" in values
    assert values[-1] == "2026-11-19"


def test_a_discovered_code_without_access_is_skipped_and_the_run_succeeds(sandbox):
    sandbox.emulators["citygrid"].forbidden = frozenset({"pub_seo"})
    config = sandbox_config(sandbox, "citygrid", "2026-11-10", "2026-11-19")
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 0, run.stderr
    assert "CityGrid skipped publisher code(s) pub_seo (" in run.last_log_line
    for stream in STREAMS.values():
        assert f"{stream} publisher_code=pub_seo placement=all: HTTP 403" in run.last_log_line
    for view, stream in STREAMS.items():
        landed = set(keys(run.records(stream)))
        assert landed == truth(["guest", "1234567"], "all", view, "2026-11-10", "2026-11-19")
        skipped = '{"placement": "all", "publisher_code": "pub_seo"}'
        assert run.bookmarks(stream).get(skipped) is None


def test_an_explicit_code_without_access_fails_the_run_after_the_others(sandbox):
    config = sandbox_config(
        sandbox, "citygrid", "2026-11-10", "2026-11-19", publisher_codes=["pub_locked", "guest"]
    )
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 1
    assert "CityGrid skipped publisher code(s) pub_locked (" in run.last_log_line
    assert "remove these codes from citygrid.publisher_codes" in run.last_log_line
    assert "Traceback" not in run.stderr
    for view, stream in STREAMS.items():  # every stream still extracted guest
        landed = set(keys(run.records(stream)))
        assert landed == truth(["guest"], "all", view, "2026-11-10", "2026-11-19")
        assert run.bookmarks(stream) == {
            '{"placement": "all", "publisher_code": "guest"}': "2026-11-19",
            '{"placement": "all", "publisher_code": "pub_locked"}': None,
        }


def test_wrong_password_fails_with_one_line_and_no_secret(sandbox):
    config = sandbox_config(
        sandbox, "citygrid", "2026-11-10", "2026-11-19", password="not-the-password-123"
    )
    run = run_at(sandbox, NOON_FRIDAY, config)  # run_tap checks no credential leaked
    assert run.returncode != 0
    assert "HTTP 401" in run.last_log_line
    assert "citygrid.password" in run.last_log_line
    assert "Traceback" not in run.stderr
    assert run.records("citygrid_overall") == []


def test_bad_config_fails_before_any_request(sandbox):
    config = sandbox_config(sandbox, "citygrid", "2026-11-10", "2026-11-19", view_types=["daily"])
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode != 0
    assert "citygrid.view_types" in run.last_log_line
    assert sandbox.ledger.requests == []


def test_an_end_date_before_yesterday_is_honoured(sandbox):
    config = sandbox_config(
        sandbox, "citygrid", "2026-11-03", "2026-11-12", publisher_codes=["guest"]
    )
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 0, run.stderr
    assert report_times(sandbox) == ["thisMonth"] * 3  # 20 days; no smaller preset has them
    for view, stream in STREAMS.items():
        landed = keys(run.records(stream))
        assert len(landed) == len(set(landed))
        assert set(landed) == truth(["guest"], "all", view, "2026-11-03", "2026-11-12")
        assert served_within(sandbox, view, "2026-11-13", "2026-11-19")  # served, not kept
        assert set(run.bookmarks(stream).values()) == {"2026-11-12"}


def run_skewed(sandbox, tap_moment: str, server_moment: str, config: dict):
    """The tap's clock and CityGrid's on either side of 9 p.m. Pacific."""
    sandbox.emulators["citygrid"].now = dt.datetime.fromisoformat(server_moment)
    return run_tap(config, env={**os.environ, emulator.NOW_ENV: tap_moment})


def test_when_citygrids_day_has_not_turned_yet_the_tap_extracts_up_to_its_yesterday(sandbox):
    # the tap: Friday 21:00:05, yesterday the 20th; CityGrid: 20:59:55, yesterday the 19th
    config = sandbox_config(
        sandbox, "citygrid", "2026-11-06", "2026-11-30", publisher_codes=["guest"],
        view_types=["overall"],
    )  # fmt: skip
    run = run_skewed(sandbox, "2026-11-20T21:00:05-08:00", "2026-11-20T20:59:55-08:00", config)
    assert run.returncode == 0, run.stderr
    assert "its range as of reporting day 2026-11-20" in run.stderr
    assert "extracting up to 2026-11-19, the rest next run" in run.stderr
    # thisMonth as planned (11-01..11-21, 21st partial) came back as 11-01..11-20, its 20th
    # CityGrid's partial day: never kept; 11-06..11-19 is planned again as of the 20th
    assert report_times(sandbox) == ["last14Days", "thisMonth"]
    landed = keys(run.records("citygrid_overall"))
    assert len(landed) == len(set(landed))
    assert set(landed) == truth(["guest"], "all", "overall", "2026-11-06", "2026-11-19")
    assert run.bookmarks("citygrid_overall") == {
        '{"placement": "all", "publisher_code": "guest"}': "2026-11-19"
    }


def test_when_citygrids_day_turned_first_the_report_still_holds_the_needed_days(sandbox):
    # the tap: Friday 20:59:55, yesterday the 19th; CityGrid: 21:00:05, yesterday the 20th
    config = sandbox_config(
        sandbox, "citygrid", "2026-11-16", "2026-11-30", publisher_codes=["guest"],
        view_types=["overall"],
    )  # fmt: skip
    run = run_skewed(sandbox, "2026-11-20T20:59:55-08:00", "2026-11-20T21:00:05-08:00", config)
    assert run.returncode == 0, run.stderr
    assert report_times(sandbox) == ["last7Days"]
    assert any(k[2] == "2026-11-20" for k in sandbox.ledger.served_keys("citygrid:overall"))
    landed = keys(run.records("citygrid_overall"))
    assert set(landed) == truth(["guest"], "all", "overall", "2026-11-16", "2026-11-19")
    assert set(run.bookmarks("citygrid_overall").values()) == {"2026-11-19"}


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("placements", ["placement_1", "placement_1"]),
        ("publisher_codes", ["guest", "pub_seo", "guest"]),
        ("view_types", ["ads", "ads"]),
    ],
)
def test_a_setting_listing_a_value_twice_fails_before_any_request(sandbox, setting, value):
    config = sandbox_config(sandbox, "citygrid", "2026-11-10", "2026-11-19", **{setting: value})
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 1
    assert f"Invalid setting 'citygrid.{setting}': '{value[0]}' is listed twice" in (
        run.last_log_line
    )
    assert sandbox.ledger.requests == []


def test_a_frozen_clock_without_an_offset_fails_with_one_line(sandbox):
    config = sandbox_config(sandbox, "citygrid", "2026-11-10", "2026-11-19")
    run = run_tap(config, env={**os.environ, emulator.NOW_ENV: "2026-11-20T12:00:00"})
    assert run.returncode == 1
    assert f"Invalid setting '{emulator.NOW_ENV}': an ISO date-time with a UTC offset" in (
        run.last_log_line
    )
    assert "Traceback" not in run.stderr


def test_an_explicit_code_without_access_still_lets_the_other_vendors_sync(sandbox):
    """Streams sync in name order: citygrid_* before infinity_*. The refusal fails the run
    only after Infinity has been extracted too."""
    config = sandbox_config(
        sandbox, "citygrid", "2026-11-10", "2026-11-19", publisher_codes=["pub_locked", "guest"]
    )
    config["infinity"] = {"api_url": sandbox.url("infinity"), "igrps": [1001]}
    run = run_at(sandbox, NOON_FRIDAY, config)
    assert run.returncode == 1
    assert "CityGrid skipped publisher code(s) pub_locked (" in run.last_log_line
    assert run.records("infinity_triggers"), "Infinity was not extracted"
    assert run.bookmarks("infinity_triggers") == {'{"igrp": 1001}': "2026-11-19"}
    assert "Traceback" not in run.stderr
