"""Adobe Target through the CLI against the sandbox: ground truth, one request, state."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections import Counter

import pytest

from tap_perfreports.sandbox import adobe_target as emulated
from tap_perfreports.vendors.adobe_target import STREAMS
from tests.helpers import fixture_bytes, run_tap, sandbox_config

STEPS, RECIPES, ENGAGEMENT = "adobe_target_steps", "adobe_target_recipes", "adobe_target_engagement"


def config(sandbox, start: str, end: str, **settings):
    return sandbox_config(sandbox, "adobe_target", start, end, **settings)


def key_of(stream: str, record: dict) -> tuple:
    return tuple(record[name] for name in STREAMS[stream][1])


def truth(record: dict, *, include_deleted: bool = False, filter_extreme: bool = False) -> dict:
    start = dt.datetime.fromisoformat(record["sample_start"]).replace(tzinfo=None)
    data = emulated.sample(
        record["campaign_id"],
        record["metric_type"],
        record["segment_id"],
        record["duration"],
        start,
        include_deleted=include_deleted,
        filter_extreme=filter_extreme,
    )
    assert data is not None, f"a row for an empty sample: {record}"
    return data[record["recipe_name"]]


def assert_matches_ground_truth(run, sandbox, **options) -> dict[str, list[dict]]:
    """Every served row landed exactly once, in every stream, with the served values."""
    assert run.returncode == 0, run.stderr
    landed = {}
    for stream in STREAMS:
        records = run.records(stream)
        keys = [key_of(stream, r) for r in records]
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        assert not duplicates, f"{stream}: primary key emitted twice: {duplicates[:3]}"
        assert set(keys) == sandbox.ledger.served_keys(stream), stream
        assert all(None not in k for k in keys)
        landed[stream] = records
    for r in landed[STEPS]:
        assert r["value"] == truth(r, **options)["steps"][r["step_name"]]
        assert r["step_position"] == list(truth(r, **options)["steps"]).index(r["step_name"]) + 1
    for r in landed[RECIPES]:
        assert r["amount"] == truth(r, **options)["amount"]
        assert r["is_summary"] == (r["recipe_name"] == "Campaign")
    for r in landed[ENGAGEMENT]:
        count, total, squares = truth(r, **options)["engagement"][r["step_name"]]
        assert (r["count"], r["total"], r["sum_of_squares"]) == (count, total, squares)
    return landed


def requests(sandbox) -> list:
    """Adobe requests in the order they arrived (fetched ahead: not always planned order)."""
    return [r for r in sandbox.ledger.requests if r.vendor == "adobe_target"]


def param(request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def test_backfill_lands_every_row_once_from_one_request_per_campaign_type_window(sandbox):
    run = run_tap(config(sandbox, "2026-08-01", "2026-09-15"))
    landed = assert_matches_ground_truth(run, sandbox)
    # 2 campaigns x 3 types x 2 windows (31 + 15 days): the three streams share them
    sent = requests(sandbox)
    assert len(sent) == 2 * 3 * 2
    assert {(param(r, "start"), param(r, "end")) for r in sent} == {
        ("2026-08-01T00:00", "2026-09-01T00:00"),
        ("2026-09-01T00:00", "2026-09-16T00:00"),
    }
    for request in sent:
        assert param(request, "version") == "2"
        assert param(request, "operation") == "report"
        assert param(request, "environment") == "Production"
        assert param(request, "resolution") == "day"
        assert param(request, "segment") is None
        assert param(request, "includeDeletedReportRows") == "false"
        assert param(request, "filterExtremeOrders") == "false"
    assert Counter(param(r, "type") for r in sent) == {"visit": 4, "visitor": 4, "impression": 4}
    # the aggregate report: the fixed segment key, no segment name
    assert {r["segment_id"] for r in landed[RECIPES]} == {"aggregate"}
    assert {r["segment_name"] for r in landed[RECIPES]} == {None}
    # samples with no visitors are absent: some days have no rows, the rest have all recipes
    days = {(r["campaign_id"], r["metric_type"], r["sample_start"]) for r in landed[RECIPES]}
    assert 0.7 * 2 * 3 * 46 < len(days) < 2 * 3 * 46
    assert len(landed[RECIPES]) == 3 * len(days)
    summaries = [r for r in landed[RECIPES] if r["is_summary"]]
    assert len(summaries) == len(days)
    bookmarks = {day for stream in STREAMS for day in run.bookmarks(stream).values()}
    assert bookmarks == {"2026-09-15"}


def test_all_segments_land_each_segment_and_the_aggregate(sandbox):
    settings = {"segments": "all", "metric_types": ["visitor"], "campaign_ids": [7]}
    run = run_tap(config(sandbox, "2026-08-01", "2026-08-10", **settings))
    landed = assert_matches_ground_truth(run, sandbox)
    assert [param(r, "segment") for r in requests(sandbox)] == ["allSegments"]
    names = {(r["segment_id"], r["segment_name"]) for r in landed[STEPS]}
    assert names == {("0", "Segment 1"), ("1", "Segment 2"), ("aggregate", None)}


def test_hourly_reports_come_in_two_day_windows(sandbox):
    settings = {"resolution": "hour", "metric_types": ["impression"], "campaign_ids": [11]}
    run = run_tap(config(sandbox, "2026-08-01", "2026-08-05", **settings))
    landed = assert_matches_ground_truth(run, sandbox)
    assert sorted((param(r, "start"), param(r, "end")) for r in requests(sandbox)) == [
        ("2026-08-01T00:00", "2026-08-03T00:00"),
        ("2026-08-03T00:00", "2026-08-05T00:00"),
        ("2026-08-05T00:00", "2026-08-06T00:00"),
    ]
    hours = {r["sample_start"] for r in landed[RECIPES]}
    assert 0.7 * 5 * 24 < len(hours) < 5 * 24
    assert {r["duration"] for r in landed[STEPS]} == {"hour"}


def test_weekly_windows_start_on_monday(sandbox):
    settings = {"resolution": "week", "metric_types": ["visit"], "campaign_ids": [7]}
    run = run_tap(config(sandbox, "2026-08-05", "2026-09-30", **settings))
    landed = assert_matches_ground_truth(run, sandbox)
    assert [param(r, "start") for r in requests(sandbox)] == ["2026-08-03T00:00"]
    starts = {dt.datetime.fromisoformat(r["sample_start"]) for r in landed[RECIPES]}
    assert starts
    assert all(s.weekday() == 0 for s in starts)


def test_options_reach_the_api(sandbox):
    settings = {
        "campaign_ids": [7],
        "metric_types": ["visit"],
        "include_deleted_rows": True,
        "filter_extreme_orders": True,
        "environment": "Staging",
    }
    run = run_tap(config(sandbox, "2026-08-01", "2026-08-03", **settings))
    landed = assert_matches_ground_truth(run, sandbox, include_deleted=True, filter_extreme=True)
    (request,) = requests(sandbox)
    assert param(request, "includeDeletedReportRows") == "true"
    assert param(request, "filterExtremeOrders") == "true"
    assert param(request, "environment") == "Staging"
    assert "Experience C" in {r["recipe_name"] for r in landed[RECIPES]}


def test_the_next_run_resumes_after_the_bookmark_minus_the_lookback(sandbox):
    settings = {"campaign_ids": [7], "metric_types": ["visit"], "lookback_days": 2}
    first = run_tap(config(sandbox, "2026-08-01", "2026-08-10", **settings))
    assert first.returncode == 0, first.stderr
    sandbox.ledger.reset()
    second = run_tap(config(sandbox, "2026-08-01", "2026-08-20", **settings), state=first.state)
    landed = assert_matches_ground_truth(second, sandbox)
    assert sorted((param(r, "start"), param(r, "end")) for r in requests(sandbox)) == [
        ("2026-08-09T00:00", "2026-08-21T00:00")
    ]
    assert min(r["sample_start"] for r in landed[STEPS]) >= "2026-08-09"
    for stream in STREAMS:
        assert set(second.bookmarks(stream).values()) == {"2026-08-20"}

    sandbox.ledger.reset()
    third = run_tap(config(sandbox, "2026-08-01", "2026-08-20", **settings), state=second.state)
    assert third.returncode == 0
    assert [param(r, "start") for r in requests(sandbox)] == ["2026-08-19T00:00"]


def test_a_malformed_body_is_recovered_whole_with_a_warning_naming_the_window(sandbox):
    settings = {"campaign_ids": [7], "metric_types": ["visitor"]}
    sandbox.emulators["adobe_target"].malformed = True
    run = run_tap(config(sandbox, "2026-08-01", "2026-08-05", **settings))
    landed = assert_matches_ground_truth(run, sandbox)
    assert len(landed[ENGAGEMENT]) == 2 * len(landed[RECIPES]) > 0
    warnings = [line for line in run.stderr.splitlines() if "not well-formed XML" in line]
    assert len(warnings) == 1, run.stderr
    assert "campaign_id=7, metric_type=visitor" in warnings[0]
    assert "window 2026-08-01..2026-08-05" in warnings[0]
    assert "attribute(s) without a separating space" in warnings[0]


def test_the_documented_example_served_verbatim_fails_clearly_on_its_placeholder_year(sandbox):
    assert fixture_bytes("adobe_target", "doc_report.xml") == emulated.DOC_EXAMPLE
    sandbox.emulators["adobe_target"].doc_example = True
    run = run_tap(config(sandbox, "2026-08-01", "2026-08-05", campaign_ids=[7]))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    line = run.last_log_line
    assert "unreadable response" in line
    assert "sample_start: expected a date-time, got 'YYYY-08-01T00:00'" in line
    assert "campaign_id=7" in line
    assert "window 2026-08-01..2026-08-05" in line


def test_reports_of_types_not_asked_for_are_skipped_so_each_row_lands_once(sandbox):
    settings = {"campaign_ids": [7], "metric_types": ["visit", "impression"]}
    sandbox.emulators["adobe_target"].ignore_type = True
    run = run_tap(config(sandbox, "2026-08-01", "2026-08-04", **settings))
    assert run.returncode == 0, run.stderr
    for stream in STREAMS:
        keys = [key_of(stream, r) for r in run.records(stream)]
        assert len(keys) == len(set(keys)), stream
        served = {k for k in sandbox.ledger.served_keys(stream) if k[1] != "visitor"}
        assert set(keys) == served != set()
    skipped = [line for line in run.stderr.splitlines() if "of another type" in line]
    assert len(skipped) == 2, run.stderr  # one per request: visit's and impression's
    assert "skipped 2 report(s) of another type (impression, visitor)" in skipped[0]


@pytest.mark.parametrize("selected", [RECIPES, ENGAGEMENT])
def test_a_stream_selected_alone_fetches_for_itself(sandbox, selected, tmp_path):
    settings = {"campaign_ids": [11], "metric_types": ["visit", "visitor"]}
    cfg = config(sandbox, "2026-08-01", "2026-08-03", **settings)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(cfg))
    discover = [sys.executable, "-m", "tap_perfreports", "--config", str(config_path), "--discover"]
    catalog = json.loads(subprocess.run(discover, capture_output=True, check=True).stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == selected
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    run = run_tap(cfg, args=["--catalog", str(path)])
    assert run.returncode == 0, run.stderr
    assert run.streams == {selected}
    keys = {key_of(selected, r) for r in run.records(selected)}
    assert keys == sandbox.ledger.served_keys(selected) != set()
    assert len(requests(sandbox)) == 2
