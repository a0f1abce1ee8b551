"""Logs a person can follow: progress at a steady cadence, one summary per stream, one
line per expected failure, and no line per partition once there are many."""

from __future__ import annotations

from tap_perfreports.progress import PARTITIONS_LOGGED, Progress
from tap_perfreports.sandbox import plumvoice as emulated
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import run_tap
from tests.vendor_cases import CASES


def test_progress_lines_come_at_the_cadence_with_rate_and_what_is_left():
    progress = Progress(every=20.0)
    progress.start_partition(10, now=100.0)
    progress.rows = 5_000
    assert progress.window_done(now=105.0) is None, "too soon"
    progress.rows = 20_000
    assert progress.window_done(now=110.0) is None
    progress.rows = 40_000
    line = progress.window_done(now=120.0)
    assert line == (
        "3 of 10 window(s) done, 40,000 rows so far (2,000 rows/s), "
        "about 47 s left in this partition"
    )
    assert progress.window_done(now=125.0) is None, "the next one waits 20 s again"
    progress.start_partition(4, now=130.0)
    progress.window_done(now=131.0)
    assert progress.summary(requests=12, now=190.0) == (
        "40,000 rows in 5 window(s) of 2 partition(s), 12 request(s), 2 min"
    )


def test_a_long_estimate_is_in_minutes_or_hours():
    progress = Progress(every=0.0)
    progress.start_partition(1000, now=0.0)
    assert "about 17 min left" in (progress.window_done(now=1.0) or "")
    progress = Progress(every=0.0)
    progress.start_partition(100_000, now=0.0)
    assert "about 27.8 h left" in (progress.window_done(now=1.0) or "")


def test_each_stream_ends_with_one_summary_and_no_sdk_bookmark_line(sandbox):
    run = run_tap(CASES["infinity"].config(sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in ("infinity_triggers", "infinity_channel_metrics"):
        summaries = [line for line in run.stderr.splitlines() if f"stream {stream}: done," in line]
        assert len(summaries) == 1, summaries
        rows = len(run.records(stream))
        assert f"done, {rows:,} rows in " in summaries[0], summaries[0]
    assert "Starting incremental sync" not in run.stderr


def test_an_expected_failure_is_not_called_unhandled(sandbox):
    sandbox.faults.add(Fault("status", "plumvoice", status=401, times=-1))
    run = run_tap(CASES["plumvoice"].config(sandbox))
    assert run.returncode == 1
    assert "unhandled" not in run.stderr.lower()
    assert "HTTP 401" in run.last_log_line


def test_many_partitions_log_one_line_not_one_each(sandbox):
    sandbox.emulators["plumvoice"].scale = 6
    phones = list(emulated.phones(6))[: PARTITIONS_LOGGED + 5]
    assert len(phones) > PARTITIONS_LOGGED
    config = CASES["plumvoice"].config(sandbox)
    config["plumvoice"]["phones"] = phones
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    info = [line for line in run.stderr.splitlines() if "| INFO " in line]
    assert not [line for line in info if ": extracting " in line], "a plan per partition"
    assert any(f"{len(phones)} partitions" in line for line in info)
    assert any("stream plumvoice_performance: done," in line for line in info)
