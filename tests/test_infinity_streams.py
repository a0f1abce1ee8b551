"""Infinity streams against the sandbox: ground truth, paging, state and lookback."""

from __future__ import annotations

import os

from tap_perfreports.clock import SANDBOX_NOW_ENV
from tests.helpers import run_tap, sandbox_config


def landed_keys(records: list[dict]) -> list[tuple]:
    return [(r["igrp"], r["row_id"]) for r in records]


def test_backfill_lands_every_served_row_once(sandbox):
    config = sandbox_config(sandbox, "infinity", "2026-10-01", "2026-10-20", page_size=100)
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    keys = landed_keys(run.records("infinity_triggers"))
    served = sandbox.ledger.served_keys("infinity:triggers/all")
    assert len(served) > 1000  # several pages per window at page_size 100
    assert len(keys) == len(set(keys)), "a trigger row was emitted twice"
    assert set(keys) == served


def requested_windows(sandbox, route: str) -> set[tuple[str, str]]:
    return {
        (r.query["startDate"][0], r.query["endDate"][0])
        for r in sandbox.ledger.requests
        if r.path.endswith(route) and "startDate" in r.query
    }


def test_second_run_fetches_only_the_lookback_and_new_days(sandbox):
    first = sandbox_config(sandbox, "infinity", "2026-10-01", "2026-10-20", lookback_days=2)
    run = run_tap(first)
    assert run.returncode == 0, run.stderr
    assert set(run.bookmarks("infinity_triggers").values()) == {"2026-10-20"}
    assert set(run.bookmarks("infinity_channel_metrics").values()) == {"2026-10-20"}
    first_keys = sandbox.ledger.served_keys("infinity:triggers/all")

    sandbox.ledger.reset()
    second = {**first, "end_date": "2026-10-23"}
    rerun = run_tap(second, state=run.state)
    assert rerun.returncode == 0, rerun.stderr
    # lookback 2 from bookmark 2026-10-20: 19th and 20th again, then the new days
    assert requested_windows(sandbox, "triggers/all") == {("2026-10-19", "2026-10-23")}
    assert requested_windows(sandbox, "metrics/channels") == {
        (f"2026-10-{day}", f"2026-10-{day}") for day in range(19, 24)
    }
    assert set(rerun.bookmarks("infinity_triggers").values()) == {"2026-10-23"}
    days = {r["trigger_datetime"][:10] for r in rerun.records("infinity_triggers")}
    assert min(days) == "2026-10-19"
    # the re-pulled rows are the same keys as before: an upserting target keeps one copy
    overlap = sandbox.ledger.served_keys("infinity:triggers/all") & first_keys
    assert overlap == {
        (r["igrp"], r["row_id"])
        for r in run.records("infinity_triggers")
        if r["trigger_datetime"][:10] in ("2026-10-19", "2026-10-20")
    }


def test_a_run_with_nothing_new_sends_no_report_request(sandbox):
    config = sandbox_config(
        sandbox, "infinity", "2026-10-01", "2026-10-03", lookback_days=0, igrps=[1001]
    )
    run = run_tap(config)
    sandbox.ledger.reset()
    rerun = run_tap(config, state=run.state)
    assert rerun.returncode == 0
    assert sandbox.ledger.requests == []
    assert rerun.records("infinity_triggers") == []


def test_channel_metrics_agree_with_the_events_they_aggregate(sandbox):
    config = sandbox_config(sandbox, "infinity", "2026-10-01", "2026-10-03")
    run = run_tap(config)
    events = run.records("infinity_triggers")
    metrics = run.records("infinity_channel_metrics")
    keys = [(m["igrp"], m["date"], m["ch"]) for m in metrics]
    assert len(keys) == len(set(keys))
    for metric in metrics:
        matching = [
            e
            for e in events
            if e["igrp"] == metric["igrp"]
            and e["ch"] == metric["ch"]
            and e["trigger_datetime"][:10] == metric["date"]
        ]
        assert metric["trigger_count"] == len(matching)
        assert metric["call_count"] == sum(e["act"] == "call" for e in matching)
    assert sum(m["trigger_count"] for m in metrics) == len(events)


def test_installations_are_discovered_when_not_configured(sandbox):
    run = run_tap(sandbox_config(sandbox, "infinity", "2026-10-01", "2026-10-01"))
    assert {r["igrp"] for r in run.records("infinity_triggers")} == {1001, 1002}
    paths = [r.path for r in sandbox.ledger.requests]
    assert paths.count("/reports/v2/igrps") == 1, "installations are looked up once per run"
    # one day, two installations, two reports: the minimum number of report requests
    assert len(paths) == 1 + 2 * 2


def test_custom_reports_time_zone_and_pii_options(sandbox):
    config = sandbox_config(
        sandbox,
        "infinity",
        "2026-10-01",
        "2026-10-02",
        igrps=[1002],
        tz="America/New_York",
        exclude_pii=True,
        reports=[
            {
                "name": "calls",
                "route": "triggers/calls",
                "display": ["act", "srcPhoneNumber", "ip", "vid-visitorId"],
            },
            {
                "name": "goals_by_channel",
                "route": "metrics/channels",
                "group": ["ch"],
                "display": ["goalCount"],
                "custom_metrics": {"goals246": "goalCount_goal_246"},
            },
        ],
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert run.streams == {"infinity_calls", "infinity_goals_by_channel"}
    calls = run.records("infinity_calls")
    assert calls
    assert {c["act"] for c in calls} == {"call"}
    assert all(c["src_phone_number"].endswith("XXXX") and c["ip"].endswith(".X") for c in calls)
    assert all(c["visitor_id"] for c in calls)
    # New York days: 2026-10-01T04:00Z .. 2026-10-03T04:00Z (EDT)
    times = sorted(c["trigger_datetime"] for c in calls)
    assert times[0] >= "2026-10-01T04:00:00+00:00"
    assert times[-1] < "2026-10-03T04:00:00+00:00"
    goals = run.records("infinity_goals_by_channel")
    assert all(0 <= g["goals246"] <= g["goal_count"] for g in goals)
    assert run.schema("infinity_goals_by_channel")["key_properties"] == ["igrp", "date", "ch"]


def test_the_default_end_date_is_the_last_day_over_in_the_report_time_zone(sandbox):
    """At 03:00 UTC on Nov 20 it is still Nov 19 in Los Angeles: Nov 18 is the last day over."""
    config = sandbox_config(
        sandbox, "infinity", "2026-11-10", "", igrps=[1001], tz="America/Los_Angeles"
    )
    del config["end_date"]
    env = {**os.environ, SANDBOX_NOW_ENV: "2026-11-20T03:00:00+00:00"}
    run = run_tap(config, env=env)
    assert run.returncode == 0, run.stderr
    ends = {r.query["endDate"][0] for r in sandbox.ledger.requests if "endDate" in r.query}
    assert max(ends) == "2026-11-18"  # UTC's last day over, the 19th, would be partial
