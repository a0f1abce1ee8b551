"""The benchmark's own arithmetic, checked on small runs: the tap's record count read
from its log, each format's bare-loop limit writing as many rows as the sandbox served,
and each request minimum being what a real backfill needs (so the figures
`bench/run.py` prints compare like with like)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import requests

from bench import formats
from bench.common import records_written
from tap_perfreports.clock import SANDBOX_NOW_ENV
from tests.helpers import VERDICT_STREAM as VERDICTS
from tests.helpers import run_tap

SMALL = [
    formats.infinity(days=40, scale=1),
    formats.mintegral(days=14, scale=2),
    formats.citygrid("json", scale=2),
    formats.citygrid("csv", scale=2),
    formats.plumvoice("json", days=400, scale=2),
    formats.plumvoice("xml", days=400, scale=2),
    formats.adobe_target(days=40, scale=2),
]


@pytest.mark.parametrize("fmt", SMALL, ids=[f.name for f in SMALL])
def test_limit_rows_and_request_minimum_match_a_real_backfill(sandbox, fmt, tmp_path):
    for emulator in sandbox.emulators.values():
        if hasattr(emulator, "scale"):
            emulator.scale = fmt.scale
    for emulator in sandbox.emulators.values():
        emulator.now = dt.datetime.fromisoformat(formats.BENCH_NOW)
    sandbox.emulators["mintegral"].generation_delay = 0.0
    sandbox.emulators["plumvoice"].requests_per_window = 10**6
    sandbox.emulators["adobe_target"].requests_per_window = 10**6
    run = run_tap(
        fmt.config(sandbox.base_url, 1.0), env={**os.environ, SANDBOX_NOW_ENV: formats.BENCH_NOW}
    )
    assert run.returncode == 0, run.stderr
    ledger = [vars(r) for r in sandbox.ledger.requests]
    carrying = [r for r in ledger if fmt.carries_rows(r)]
    served = sum(r["rows"] for r in carrying)
    # (the bench counts report rows: verdicts of reconciliation are not rows)
    records = sum(1 for m in run.messages if m["type"] == "RECORD" and m["stream"] != VERDICTS)
    assert records_written(run.stderr) == records > 0
    # CityGrid's presets up to today also serve today's row, which is never kept
    assert records <= served <= records * 1.05

    written = 0
    with (tmp_path / "sink").open("wb") as sink:
        for entry in carrying:
            url = f"{sandbox.base_url}/{entry['vendor']}{entry['path']}"
            params = [(k, v) for k, values in entry["query"].items() for v in values]
            body = requests.get(url, params=params, headers=fmt.headers(entry), timeout=30)
            written += fmt.limit(body.content, sink)
    assert written == served

    assert fmt.requests_made(ledger) == fmt.minimum(ledger) + formats.mintegral_polls(ledger)
