"""Vendors restate recent days; the warehouse must end with the latest values, every one.

For each warehouse and output mode: `meltano run` lands all five vendors (one job per
vendor, each with its own state, so each vendor's streams end a tap run of their own),
the sandbox restates the last days, and an incremental `meltano run` re-pulls them through
the lookback. Every landed value must then equal the truth: a fresh full extraction of the
restated sandbox. A restated value that never arrived is *stale*.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from pathlib import Path

import pytest

from tests import reliability_table
from tests.e2e.conftest import Meltano
from tests.e2e.warehouse import judge, truth_of
from tests.helpers import run_tap
from tests.reliability.scenarios import secret_hits
from tests.vendor_cases import CASES, STREAMS, all_vendors

pytestmark = pytest.mark.e2e

JOBS = {
    "infinity": "tap-perfreports-infinity",
    "plumvoice": "tap-perfreports-plumvoice",
    "adobe_target": "tap-perfreports-adobe-target",
    "citygrid": "tap-perfreports-citygrid",
    "mintegral": "tap-perfreports-mintegral",
}
#: A column every mapped record gains: the stream map sends records through the SDK's path.
MAPPED_COLUMN = "loaded_from"


def meltano_env(sandbox: t.Any, end: str, mode: str, folder: Path) -> dict[str, str]:
    """The vendor cases as Meltano environment variables (lists and objects as JSON)."""
    config = all_vendors(sandbox)
    env = {"TAP_PERFREPORTS_START_DATE": config["start_date"], "TAP_PERFREPORTS_END_DATE": end}
    for vendor in CASES:
        for name, value in config[vendor].items():
            text = value if isinstance(value, str) else json.dumps(value)
            env[f"TAP_PERFREPORTS_{vendor.upper()}_{name.upper()}"] = text
    if mode == "stream map":
        maps = {s: {MAPPED_COLUMN: "'sandbox'"} for streams in STREAMS.values() for s in streams}
        env["TAP_PERFREPORTS_STREAM_MAPS"] = json.dumps(maps)
    if mode == "batch":
        batch_config = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": f"file://{folder}"},
            "batch_size": 500,
        }
        env["TAP_PERFREPORTS_BATCH_CONFIG"] = json.dumps(batch_config)
    return env


def run_jobs(meltano: Meltano, target: str, env: dict[str, str]) -> str:
    args = [arg for job in JOBS.values() for arg in (job, target)]
    run = meltano.run("run", *args, env=env, timeout=900)
    assert run.returncode == 0, run.output[-4000:]
    assert secret_hits(run.output) == 0
    return run.output


#: Every output mode into each warehouse; target-duckdb reads no BATCH messages (see
#: test_duckdb_refuses_batch_messages_loudly).
COMBINATIONS = [
    ("postgres", "default"),
    ("postgres", "stream map"),
    ("postgres", "batch"),
    ("duckdb", "default"),
    ("duckdb", "stream map"),
]


@pytest.mark.parametrize("combination", COMBINATIONS, ids=[" ".join(c) for c in COMBINATIONS])
def test_the_warehouse_ends_with_every_restated_value(
    sandbox, request: pytest.FixtureRequest, meltano: Meltano, tmp_path: Path, combination
):
    warehouse, mode = combination
    if warehouse == "postgres":
        postgres = request.getfixturevalue("postgres")
        meltano = Meltano(meltano.project, tmp_path, postgres)
        query, target = postgres.query, "target-postgres"
    else:
        query, target = meltano.duckdb, "target-duckdb"
    case = CASES["infinity"]  # every case shares its dates
    before = truth_of(run_tap(all_vendors(sandbox)))
    run_jobs(meltano, target, meltano_env(sandbox, case.end, mode, tmp_path))

    # The vendors restate the last day of the first run and everything after it.
    since = dt.date.fromisoformat(case.end)
    sandbox.restate(since)
    run_jobs(meltano, target, meltano_env(sandbox, case.later, mode, tmp_path))
    truth = truth_of(run_tap(all_vendors(sandbox) | {"end_date": case.later}))

    # The restatement changed values the first run landed: a stale warehouse would fail.
    for vendor, streams in STREAMS.items():
        changed = sum(
            1
            for stream in streams
            if stream in before
            for key, row in before[stream].rows.items()
            if key in truth[stream].rows and truth[stream].rows[key] != row
        )
        assert changed, f"{vendor}: the restatement changed nothing the first run landed"

    if mode == "stream map":
        for stream in truth.values():
            stream.columns.append(MAPPED_COLUMN)
            for row in stream.rows.values():
                row[MAPPED_COLUMN] = "sandbox"
    verdict = judge(truth, query, meltano.schema, empty_is_null=warehouse == "duckdb")
    reliability_table.record(
        f"restatement: {warehouse}, {mode}",
        faults=1,
        runs=2,
        expected=verdict.expected,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        stale=verdict.stale,
    )
    assert verdict.clean, verdict


def test_duckdb_refuses_batch_messages_loudly(sandbox, meltano: Meltano, tmp_path: Path):
    """target-duckdb (jwills) does not read BATCH messages: with `batch_config` the run
    fails, never lands part of the data silently (the README says to keep it off)."""
    env = meltano_env(sandbox, CASES["plumvoice"].end, "batch", tmp_path)
    run = meltano.run("run", JOBS["plumvoice"], "target-duckdb", env=env, timeout=600)
    assert run.returncode != 0
    assert "BATCH" in run.output
