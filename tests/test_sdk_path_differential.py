"""The oracle for the fast path: the tap as shipped writes what the SDK's plain path writes.

`TAP_PERFREPORTS_SDK_PATH=plain` runs the same tap on the SDK's default writer, state
writer, record path and recursive type conformance (`tap_perfreports/sdk_private.py`).
For every vendor, on a first run and on an incremental run whose lookback re-pulls days,
both must write the same RECORDs in the same order and the same STATE at the same points.
"""

from __future__ import annotations

import os
import typing as t

import pytest

from tap_perfreports.sdk_private import SDK_PATH_ENV
from tests.helpers import run_tap
from tests.vendor_cases import CASES, canonical_record, parse_messages, written_streams

PLAIN = {**os.environ, SDK_PATH_ENV: "plain"}


def transcript(stdout: str) -> list[tuple]:
    """What a target acts on, in order: records by value, schemas, and STATE values.

    Left out: when records were extracted and the SDK's signpost (the run's start time);
    Mintegral's in-flight jobs (when a job is submitted depends on timing, so how many
    STATE messages carry them does too), and a STATE equal to the one before it.
    """
    kept: list[tuple] = []
    for message in parse_messages(stdout):
        kind = message["type"]
        if kind == "RECORD":
            kept.append((kind, message["stream"], canonical_record(message["record"])))
        elif kind == "SCHEMA":
            kept.append((kind, message["stream"], message["schema"], message["key_properties"]))
        elif kind == "STATE":
            value = _without_jobs_and_signposts(message["value"])
            if not kept or kept[-1] != (kind, value):
                kept.append((kind, value))
        else:
            kept.append((kind, message))
    return kept


def _without_jobs_and_signposts(state: dict) -> dict:
    for entry in state.get("bookmarks", {}).values():
        entry.pop("replication_key_signpost", None)
        for partition in [entry, *entry.get("partitions", [])]:
            partition.pop("jobs", None)
    return state


def _records(lines: list[tuple]) -> list[tuple]:
    return [line for line in lines if line[0] == "RECORD"]


@pytest.mark.parametrize("vendor", list(CASES))
def test_fast_path_writes_what_the_sdk_plain_path_writes(sandbox, vendor: str):
    case = CASES[vendor]
    first = case.config(sandbox)
    later = case.config(sandbox, end=case.later)

    fast = run_tap(first)
    plain = run_tap(first, env=PLAIN)
    assert fast.returncode == plain.returncode == 0, fast.stderr[-2000:] + plain.stderr[-2000:]
    assert transcript(fast.stdout) == transcript(plain.stdout)
    assert {m["stream"] for m in fast.messages if m["type"] == "RECORD"} == written_streams(vendor)

    # Incremental: each resumes from its own state, and the lookback re-pulls days.
    fast_again = run_tap(later, state=fast.state)
    plain_again = run_tap(later, state=plain.state, env=PLAIN)
    assert fast_again.returncode == plain_again.returncode == 0, plain_again.stderr[-2000:]
    again = transcript(fast_again.stdout)
    assert again == transcript(plain_again.stdout)
    repulled = {_key(line) for line in _records(again)} & {
        _key(line) for line in _records(transcript(fast.stdout))
    }
    assert repulled, "the incremental run re-pulled nothing: the lookback was not exercised"
    assert any(line[0] == "STATE" for line in again)


def _key(line: tuple) -> tuple:
    stream, record = line[1], line[2]
    return (stream, tuple(sorted((k, str(v)) for k, v in record.items())))


def test_the_plain_path_is_really_the_sdks(sandbox):
    """The switch is not a no-op: the SDK's default writer writes times as Python's
    isoformat does (+00:00); the fast path's msgspec encoder writes them with Z."""
    config: dict[str, t.Any] = CASES["plumvoice"].config(sandbox)
    fast = run_tap(config)
    plain = run_tap(config, env=PLAIN)
    fast_times = {m["time_extracted"][-6:] for m in fast.messages if m["type"] == "RECORD"}
    plain_times = {m["time_extracted"][-6:] for m in plain.messages if m["type"] == "RECORD"}
    assert all(end.endswith("Z") for end in fast_times)
    assert plain_times == {"+00:00"}
