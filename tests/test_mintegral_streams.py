"""Mintegral streams through the CLI against the sandbox's ground truth.

The tap and the emulator share a frozen clock (2026-03-10 12:30 in +8): the emulator
through its `now` attribute, the tap through `TAP_PERFREPORTS_SANDBOX_NOW`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import typing as t

import pytest

from tap_perfreports.sandbox import mintegral as emulated
from tap_perfreports.sandbox.faults import Fault
from tap_perfreports.vendors import mintegral as m
from tap_perfreports.windows import Window
from tests.helpers import run_tap, sandbox_config

PLUS8 = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 3, 10, 12, 30, tzinfo=PLUS8)
DEFAULT = ("Offer", "Campaign", "Location")
STREAM = "mintegral_performance"
D = dt.date


@pytest.fixture
def mintegral(sandbox):
    """The emulator on the frozen clock, with a short generation delay."""
    emulator = sandbox.emulators["mintegral"]
    emulator.now = NOW
    emulator.generation_delay = 0.05
    return emulator


def clock_env(now: dt.datetime = NOW) -> dict[str, str]:
    return {**os.environ, emulated.NOW_ENV: now.isoformat()}


def key_of(record: dict, report: m.MintegralReport) -> tuple:
    return tuple(record[column] for column in report.primary_keys())


def ground_truth(
    start: dt.date,
    end: dt.date,
    dimensions: tuple[str, ...] = DEFAULT,
    granularity: str = "daily",
    as_of: dt.datetime = NOW,
) -> dict[tuple, dict[str, t.Any]]:
    """The emulator's report rows for [start, end], by the grain the ledger records."""
    rows = emulated.report_rows(start, end, dimensions, granularity, tz=PLUS8, as_of=as_of)
    return {emulated.row_key(row, dimensions): row for row in rows}


def requests_of(sandbox, kind: str) -> list[tuple[str, str]]:
    return [
        (r.query["start_time"][0], r.query["end_time"][0])
        for r in sandbox.ledger.requests
        if r.vendor == "mintegral" and r.query.get("type") == [kind]
    ]


def test_backfill_lands_the_ground_truth_once(sandbox, mintegral):
    run = run_tap(sandbox_config(sandbox, "mintegral", "2026-01-20", "2026-03-05"), env=clock_env())
    assert run.returncode == 0, run.stderr
    report = m.MintegralReport("performance", DEFAULT)
    records = run.records(STREAM)
    keys = [key_of(r, report) for r in records]
    assert len(keys) == len(set(keys)), "a primary key was emitted twice"
    truth = ground_truth(D(2026, 1, 20), D(2026, 3, 5))
    assert (
        set(keys) == set(truth) == sandbox.ledger.served_keys(emulated.table_name(DEFAULT, "daily"))
    )
    assert len(records) == len(truth) > 500
    for record in records:
        row = truth[key_of(record, report)]
        assert record["impression"] == row["Impression"]
        assert record["spend"] == row["Spend"]
        assert record["offer_name"] == row["Offer Name"]
    assert run.schema(STREAM)["key_properties"] == report.primary_keys()
    stream_state = run.state["bookmarks"][STREAM]
    assert stream_state == {"replication_key": "date", "replication_key_value": "2026-03-05"}
    # 45 days: 7 windows of at most 7 days, each generated and downloaded once
    downloads = requests_of(sandbox, "2")
    assert len(downloads) == len(set(downloads)) == 7
    assert all((D.fromisoformat(b) - D.fromisoformat(a)).days < 7 for a, b in downloads)


def window_index(day: str, windows: list[tuple[str, str]]) -> int:
    return next(i for i, (start, end) in enumerate(windows) if start <= day <= end)


def max_in_flight(sandbox) -> int:
    """Most windows submitted (first type=1) and not yet downloaded at any moment."""
    in_flight: set[str] = set()
    most = 0
    for r in sandbox.ledger.requests:
        window = r.query["start_time"][0]
        if r.query["type"] == ["1"]:
            in_flight.add(window)
        elif r.rows:  # a TSV download: JSON answers serve no rows
            in_flight.discard(window)
        most = max(most, len(in_flight))
    return most


@pytest.mark.parametrize("jobs", [1, 4])
def test_jobs_run_in_a_pipeline_and_records_leave_in_window_order(sandbox, mintegral, jobs):
    mintegral.generation_delay = 0.4
    config = sandbox_config(
        sandbox, "mintegral", "2026-01-01", "2026-02-25", max_concurrent_jobs=jobs
    )
    started = time.monotonic()
    run = run_tap(config, env=clock_env())
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    submissions = list(dict.fromkeys(requests_of(sandbox, "1")))
    assert len(submissions) == 8
    assert max_in_flight(sandbox) == jobs
    if jobs == 4:
        # the first four requests submit four windows before anything is downloaded
        first = sandbox.ledger.requests[:4]
        assert [r.query["type"] for r in first] == [["1"]] * 4
        assert len({r.query["start_time"][0] for r in first}) == 4
    order = [window_index(r["date"], submissions) for r in run.records(STREAM)]
    assert order == sorted(order)
    assert set(order) == set(range(8))
    assert elapsed > 0.4 * (8 / jobs)  # each round waits for one generation


def test_hourly_reports_key_on_the_timestamp(sandbox, mintegral):
    reports = [{"name": "hourly_offers", "dimensions": ["Offer"], "time_granularity": "hourly"}]
    config = sandbox_config(sandbox, "mintegral", "2026-03-01", "2026-03-03", reports=reports)
    run = run_tap(config, env=clock_env())
    assert run.returncode == 0, run.stderr
    report = m.MintegralReport("hourly_offers", ("Offer",), "hourly")
    records = run.records("mintegral_hourly_offers")
    keys = [key_of(r, report) for r in records]
    assert report.primary_keys() == ["date", "timestamp", "offer_id", "currency"]
    assert len(keys) == len(set(keys))
    truth = ground_truth(D(2026, 3, 1), D(2026, 3, 3), ("Offer",), "hourly")
    assert set(keys) == set(truth)
    assert len({r["timestamp"] for r in records}) > 12
    assert all("hour" not in r for r in records)
    for record in records:
        stamp = dt.datetime.fromtimestamp(record["timestamp"], PLUS8)
        assert stamp.date().isoformat() == record["date"]


def test_an_incomplete_day_is_emitted_and_pulled_again_by_the_next_run(sandbox, mintegral):
    config = sandbox_config(sandbox, "mintegral", "2026-03-01", "2026-03-10", lookback_days=0)
    report = m.MintegralReport("performance", DEFAULT)
    first = run_tap(config, env=clock_env())
    assert first.returncode == 0, first.stderr
    # 12:30 on Mar 10: today holds 11 hours; the bookmark stays on the last complete day
    assert first.state["bookmarks"][STREAM]["replication_key_value"] == "2026-03-09"
    assert "jobs" not in first.state["bookmarks"][STREAM]
    assert "the data is not final yet" in first.stderr
    partial = ground_truth(D(2026, 3, 1), D(2026, 3, 10))
    assert {key_of(r, report) for r in first.records(STREAM)} == set(partial)
    assert any(r["date"] == "2026-03-10" for r in first.records(STREAM))

    later = dt.datetime(2026, 3, 11, 2, 0, tzinfo=PLUS8)
    mintegral.now = later
    sandbox.ledger.reset()
    second = run_tap(config, state=first.state, env=clock_env(later))
    assert second.returncode == 0, second.stderr
    assert requests_of(sandbox, "2") == [("2026-03-10", "2026-03-10")]
    assert second.state["bookmarks"][STREAM]["replication_key_value"] == "2026-03-10"
    # what an upserting target holds: the later run's rows replace the earlier ones
    table = {key_of(r, report): r for r in first.records(STREAM) + second.records(STREAM)}
    final = ground_truth(D(2026, 3, 1), D(2026, 3, 10), as_of=later)
    assert set(table) == set(final)
    assert all(table[key]["impression"] == row["Impression"] for key, row in final.items())
    today = [r for r in second.records(STREAM) if r["date"] == "2026-03-10"]
    assert sum(r["impression"] for r in today) > sum(
        r["impression"] for r in first.records(STREAM) if r["date"] == "2026-03-10"
    )


def test_an_incomplete_window_holds_the_bookmark_for_every_later_window(sandbox, mintegral):
    # at 01:00 on Mar 10, Mar 9 is not published in full yet, Mar 10 barely started
    early = dt.datetime(2026, 3, 10, 1, 0, tzinfo=PLUS8)
    mintegral.now = early
    config = sandbox_config(sandbox, "mintegral", "2026-03-03", "2026-03-10")
    run = run_tap(config, env=clock_env(early))
    assert run.returncode == 0, run.stderr
    # windows Mar 3..9 (incomplete: Mar 9 has 22 hours) and Mar 10
    assert requests_of(sandbox, "2") == [("2026-03-03", "2026-03-09"), ("2026-03-10", "2026-03-10")]
    assert run.state["bookmarks"][STREAM]["replication_key_value"] == "2026-03-08"
    assert {r["date"] for r in run.records(STREAM)} >= {"2026-03-09"}


def test_days_older_than_half_a_year_are_skipped_with_a_warning(sandbox, mintegral):
    config = sandbox_config(sandbox, "mintegral", "2025-08-01", "2025-09-20")
    run = run_tap(config, env=clock_env())
    assert run.returncode == 0, run.stderr
    # 2026-03-10 minus 180 days is 2025-09-11
    assert "skipped 2025-08-01..2025-09-10: older than the API's half-year limit" in run.stderr
    assert requests_of(sandbox, "2")[0] == ("2025-09-11", "2025-09-17")
    dates = {r["date"] for r in run.records(STREAM)}
    assert min(dates) == "2025-09-11"
    assert max(dates) == "2025-09-20"


def test_sigkill_mid_backfill_resumes_the_jobs_in_flight(sandbox, mintegral, tmp_path):
    mintegral.generation_delay = 1.0
    config = sandbox_config(sandbox, "mintegral", "2026-01-01", "2026-02-28", max_concurrent_jobs=3)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    out_path = tmp_path / "out.jsonl"
    with out_path.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_perfreports", "--config", str(config_path)],
            stdout=output,
            stderr=subprocess.DEVNULL,
            env=clock_env(),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"replication_key_value"' not in out_path.read_text():
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
    lines = out_path.read_text().splitlines()
    messages = [json.loads(line) for line in lines if line.endswith("}")]  # a cut last line
    first_rows = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == STREAM]
    state = [msg["value"] for msg in messages if msg["type"] == "STATE"][-1]
    stream_state = state["bookmarks"][STREAM]
    bookmark = D.fromisoformat(stream_state["replication_key_value"])
    in_flight = [
        Window(D.fromisoformat(job["start"]), D.fromisoformat(job["end"]))
        for job in stream_state["jobs"]
    ]
    assert bookmark < D(2026, 2, 28), "killed mid-backfill"
    assert in_flight, "killed while jobs were in flight"
    assert in_flight[0].start == bookmark + dt.timedelta(days=1)
    generated_before = dict(mintegral.generations)

    sandbox.ledger.reset()
    resumed = run_tap(config, state=state, env=clock_env())
    assert resumed.returncode == 0, resumed.stderr
    windows = list(dict.fromkeys(requests_of(sandbox, "1")))
    # lookback: 2 days before the in-flight windows, then those very windows, polled first
    lookback = (bookmark - dt.timedelta(days=1)).isoformat(), bookmark.isoformat()
    assert windows[: 1 + len(in_flight)] == [lookback] + [
        (w.start.isoformat(), w.end.isoformat()) for w in in_flight
    ]
    # the in-flight jobs were polled, not generated again
    for condition, count in generated_before.items():
        assert mintegral.generations[condition] == count
    # (a window the killed run submitted after its last STATE is the same job too)
    known = {(c.start.isoformat(), c.end.isoformat()) for c in generated_before}
    new_jobs = sum(mintegral.generations.values()) - sum(generated_before.values())
    assert new_jobs == len([w for w in windows if w not in known]) >= len(windows) - 4

    report = m.MintegralReport("performance", DEFAULT)
    resumed_rows = resumed.records(STREAM)
    resumed_keys = [key_of(r, report) for r in resumed_rows]
    first_keys = [key_of(r, report) for r in first_rows]
    assert len(resumed_keys) == len(set(resumed_keys))
    assert len(first_keys) == len(set(first_keys))
    assert min(r["date"] for r in resumed_rows) == lookback[0]
    assert set(resumed_keys) == sandbox.ledger.served_keys(emulated.table_name(DEFAULT, "daily"))
    # what an upserting target holds: every row of the ground truth, exactly once
    assert set(first_keys) | set(resumed_keys) == set(ground_truth(D(2026, 1, 1), D(2026, 2, 28)))
    # the first run's rows after the lookback are the ones the resumed run sent again
    assert {k for k in first_keys if k[0] >= lookback[0]} <= set(resumed_keys)
    assert resumed.state["bookmarks"][STREAM] == {
        "replication_key": "date",
        "replication_key_value": "2026-02-28",
    }


def default_end(sandbox, now: dt.datetime, **settings: t.Any) -> dict:
    """A config without end_date: the tap picks the default at `now`."""
    config = sandbox_config(sandbox, "mintegral", "2026-03-04", "", lookback_days=0, **settings)
    del config["end_date"]
    return config


@pytest.mark.parametrize(
    ("granularity", "end"), [("daily", "2026-03-09"), ("hourly", "2026-03-10")]
)
def test_the_default_end_date_waits_for_the_later_ready_times(sandbox, mintegral, granularity, end):
    """At 02:45 on Mar 11 (+8) a day's data is not ready until 03:00, an hour's 2.5 hours
    after it ends: daily reports stop at Mar 9, hourly ones take Mar 10. (The emulator
    publishes each hour 1.5 h after it ends, as our older page said: the tap does not ask
    sooner for that.)"""
    at_0245 = dt.datetime(2026, 3, 11, 2, 45, tzinfo=PLUS8)
    mintegral.now = at_0245
    report = {"name": "performance", "dimensions": ["Offer"], "time_granularity": granularity}
    run = run_tap(default_end(sandbox, at_0245, reports=[report]), env=clock_env(at_0245))
    assert run.returncode == 0, run.stderr
    assert requests_of(sandbox, "2") == [("2026-03-04", end)]
    assert run.state["bookmarks"][STREAM]["replication_key_value"] == end
    dimensions = ("Offer",)
    truth = ground_truth(D(2026, 3, 4), D.fromisoformat(end), dimensions, granularity, at_0245)
    parsed = m.MintegralReport("performance", dimensions, granularity)
    landed = {key_of(r, parsed): r for r in run.records(STREAM)}
    assert set(landed) == set(truth)
    assert all(landed[key]["impression"] == row["Impression"] for key, row in truth.items())


def test_is_complete_false_holds_the_bookmark_even_after_the_ready_time(sandbox, mintegral):
    """At 04:00 on Mar 11 the clock says Mar 10 is ready; the API says the window is not
    complete: its rows are emitted, the bookmark stays before its last day."""
    at_0400 = dt.datetime(2026, 3, 11, 4, 0, tzinfo=PLUS8)
    mintegral.now = at_0400
    late = {"code": 200, "msg": "success", "data": {"hours": 168, "is_complete": False}}
    # the first type=1 creates the job; every later poll answers "generated, incomplete"
    sandbox.faults.add(
        Fault("body", vendor="mintegral", query={"type": "1"}, skip=1, times=-1,
              body=json.dumps(late).encode())
    )  # fmt: skip
    run = run_tap(default_end(sandbox, at_0400), env=clock_env(at_0400))
    assert run.returncode == 0, run.stderr
    assert requests_of(sandbox, "2") == [("2026-03-04", "2026-03-10")]
    assert run.state["bookmarks"][STREAM]["replication_key_value"] == "2026-03-09"
    assert "the data is not final yet (is_complete False, 168 hours)" in run.stderr
    assert {r["date"] for r in run.records(STREAM)} >= {"2026-03-10"}
