"""Every row the tap reads reaches stdout, before the STATE that covers it, in every mode.

Found by outside checks: re-pulled rows of a run's last stream waited in the output buffer
and were never written when the last STATE was skipped as unchanged (exit 0); with
`batch_config`, STATE came before the BATCH message that held its records. `run_tap`
also checks every run of the suite for records counted but not written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import TapRun, expand_batches, run_tap, single_stream_catalog
from tests.reliability.scenarios import done
from tests.vendor_cases import (
    CASES,
    STREAMS,
    VERDICTS,
    all_vendors,
    canonical_record,
    written_streams,
)

#: (vendor, the stream run alone, settings that leave it alone or None for a catalog)
LAST_STREAMS = [
    ("plumvoice", "plumvoice_performance", {}),
    ("infinity", "infinity_triggers", None),
    ("adobe_target", "adobe_target_steps", None),
    ("citygrid", "citygrid_places_that_pay", {"view_types": ["placesThatPay"]}),
    ("mintegral", "mintegral_performance", {}),
]


def by_key(records: list[dict], keys: list[str]) -> dict[tuple, dict]:
    return {tuple(r[k] for k in keys): canonical_record(r) for r in records}


@pytest.mark.parametrize(("vendor", "stream", "settings"), LAST_STREAMS, ids=str)
def test_the_last_stream_writes_the_rows_its_lookback_pulls_again(
    sandbox, tmp_path: Path, vendor: str, stream: str, settings: dict | None
):
    """The issue's repro: a rerun whose bookmarks do not move re-pulls the lookback days;
    those rows must be written, with the same values (nothing was restated)."""
    case = CASES[vendor]
    config = case.config(sandbox)
    config[vendor].update(settings or {})
    args = single_stream_catalog(config, [stream], tmp_path) if settings is None else []
    first = run_tap(config, args=args)
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_tap(config, state=first.state, args=args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.state == first.state, "the bookmarks moved: not the case the issue found"
    # (a CityGrid run also lands its verdicts, in perfreports_reconciliation)
    assert again.streams - {VERDICTS} == {stream}
    repulled = again.records(stream)
    assert repulled, "the lookback re-pulled nothing"
    keys = next(m for m in first.messages if m["type"] == "SCHEMA")["key_properties"]
    before = by_key(first.records(stream), keys)
    assert by_key(repulled, keys).items() <= before.items()


def test_a_five_vendor_run_writes_its_last_streams_repulled_rows(sandbox):
    config = all_vendors(sandbox)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_tap(config, state=first.state)
    assert again.returncode == 0, again.stderr[-2000:]
    last = [m["stream"] for m in again.messages if m["type"] == "RECORD"][-1]
    assert again.state == first.state
    assert again.records(last), f"{last}: nothing written"
    assert again.streams == written_streams(*CASES)


def assert_no_record_follows_the_state_that_covers_it(run: TapRun) -> int:
    """In a run that started from no state, a STATE marks a window done only after all of
    its records. Returns how many records were checked."""
    state: dict = {}
    checked = 0
    for message in run.messages:
        if message["type"] == "STATE":
            state = message["value"]
        elif message["type"] == "RECORD":
            checked += 1
            assert not done(message["record"], message["stream"], state), (
                f"{message['stream']}: a record came after the STATE that marked its day done"
            )
    return checked


@pytest.mark.parametrize("vendor", list(CASES))
def test_state_comes_after_its_records_and_after_its_batch_messages(
    sandbox, tmp_path: Path, vendor: str
):
    case = CASES[vendor]
    records = run_tap(case.config(sandbox))
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{tmp_path}"},
        "batch_size": 7,
    }
    batches = run_tap(case.config(sandbox, batch_config=batch_config))
    assert records.returncode == batches.returncode == 0, batches.stderr[-2000:]
    assert sum(m["type"] == "BATCH" for m in batches.messages) > 1
    expanded = expand_batches(batches)
    assert assert_no_record_follows_the_state_that_covers_it(records) > 0
    assert assert_no_record_follows_the_state_that_covers_it(expanded) > 0
    # The same rows, by value, and the same final state.
    for stream in STREAMS[vendor]:
        plain = [canonical_record(r) for r in records.records(stream)]
        batched = [canonical_record(r) for r in expanded.records(stream)]
        assert batched == plain, stream
    assert strip_signposts(batches.state) == strip_signposts(records.state)


def strip_signposts(state: dict) -> dict:
    for entry in state.get("bookmarks", {}).values():
        entry.pop("replication_key_signpost", None)
    return state


# Capabilities: every one declared is exercised here or named where it is.


def about() -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tap_perfreports", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


#: Each declared capability and the test that shows it works.
EXERCISED = {
    "catalog": "test_the_last_stream_writes_the_rows_its_lookback_pulls_again (a catalog "
    "selecting one stream)",
    "discover": "test_discovery_lists_every_stream_with_its_full_grain",
    "state": "test_the_last_stream_writes_the_rows_its_lookback_pulls_again and every "
    "incremental test",
    "about": "this test",
    "stream-maps": "test_stream_maps_and_flattening_take_the_sdk_path_with_the_same_values",
    "schema-flattening": "test_stream_maps_and_flattening_take_the_sdk_path_with_the_same_values",
    "batch": "test_state_comes_after_its_records_and_after_its_batch_messages",
    "structured-logging": "test_structured_logging_writes_one_json_object_per_line",
}


def test_every_declared_capability_is_exercised():
    declared = set(about()["capabilities"])
    assert declared == set(EXERCISED), "declare only what works and is tested"
    assert "activate-version" not in declared


def test_activate_version_is_not_offered(sandbox):
    config = {**CASES["plumvoice"].config(sandbox), "emit_activate_version_messages": True}
    run = run_tap(config)
    assert run.returncode == 1
    assert "Invalid setting 'emit_activate_version_messages': unknown setting" in run.stderr
    assert "Traceback" not in run.stderr
    assert not any(m["type"] == "RECORD" for m in run.messages)


def test_discovery_lists_every_stream_with_its_full_grain(sandbox):
    run = run_tap(all_vendors(sandbox), args=["--discover"])
    assert run.returncode == 0, run.stderr[-2000:]
    catalog = json.loads(run.stdout)
    entries = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    assert set(entries) == written_streams(*CASES)
    for entry in entries.values():
        assert entry["key_properties"], entry["tap_stream_id"]
        assert set(entry["key_properties"]) <= set(entry["schema"]["properties"])
        # The verdicts have no bookmark of their own: they are written with the windows
        # they judge, whose report streams' bookmarks say what was checked.
        method = "FULL_TABLE" if entry["tap_stream_id"] == VERDICTS else "INCREMENTAL"
        assert entry["replication_method"] == method


def test_stream_maps_and_flattening_take_the_sdk_path_with_the_same_values(sandbox):
    config = CASES["infinity"].config(sandbox)
    direct = run_tap(config)
    mapped = run_tap(
        {
            **config,
            "stream_maps": {"infinity_triggers": {"ip": "__NULL__", "source": "'sandbox'"}},
        }
    )
    flattened = run_tap({**config, "flattening_enabled": True, "flattening_max_depth": 1})
    assert direct.returncode == mapped.returncode == flattened.returncode == 0
    triggers = direct.records("infinity_triggers")
    assert triggers
    expected = [
        {**{k: v for k, v in r.items() if k != "ip"}, "source": "sandbox"} for r in triggers
    ]
    assert mapped.records("infinity_triggers") == expected
    assert "ip" not in mapped.schema("infinity_triggers")["schema"]["properties"]
    assert flattened.records("infinity_triggers") == triggers


def test_structured_logging_writes_one_json_object_per_line(sandbox, tmp_path: Path):
    """The SDK's structured logging (SINGER_SDK_LOG_CONFIG with its StructuredFormatter):
    every log line is a JSON object, redaction still applies, and an expected failure is
    still one line that names the setting."""
    log_config = tmp_path / "logging.yaml"
    log_config.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "formatters:\n"
        "  structured:\n"
        "    (): singer_sdk.logging.StructuredFormatter\n"
        "handlers:\n"
        "  stderr:\n"
        "    class: logging.StreamHandler\n"
        "    formatter: structured\n"
        "    stream: ext://sys.stderr\n"
        "root:\n"
        "  level: INFO\n"
        "  handlers: [stderr]\n"
    )
    env = {**os.environ, "SINGER_SDK_LOG_CONFIG": str(log_config)}
    ok = run_tap(CASES["plumvoice"].config(sandbox), env=env)
    bad = run_tap({**CASES["plumvoice"].config(sandbox), "lookback_dayz": 2}, env=env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert bad.returncode == 1
    for run in (ok, bad):
        lines = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
        assert lines, "nothing was logged"
        assert all("message" in line and "level" in line for line in lines), lines[:3]
    messages = [json.loads(line)["message"] for line in bad.stderr.splitlines() if line]
    assert messages[-1].startswith("Invalid setting 'lookback_dayz': unknown setting")
    assert ok.records("plumvoice_performance")


def test_stream_maps_for_streams_a_job_deselects(sandbox, tmp_path: Path):
    """A per-vendor Meltano job deselects the other streams and every column of them;
    stream maps configured for every stream then failed the run with a traceback in the
    SDK's mapper (their key columns were deselected)."""
    config = {
        **CASES["infinity"].config(sandbox),
        "stream_maps": {s: {"source": "'sandbox'"} for s in STREAMS["infinity"]},
    }
    discovered = json.loads(run_tap(config, args=["--discover"]).stdout)
    for entry in discovered["streams"]:
        chosen = entry["tap_stream_id"] == "infinity_triggers"
        for metadata in entry["metadata"]:  # as Meltano's select leaves them
            metadata["metadata"]["selected"] = chosen
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(discovered))
    run = run_tap(config, args=["--catalog", str(catalog)])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.streams == {"infinity_triggers"}
    assert {r["source"] for r in run.records("infinity_triggers")} == {"sandbox"}
