"""A tap killed mid-backfill resumes from its last finished window and loses nothing."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time

from tap_perfreports.sandbox import infinity as emulated
from tap_perfreports.sandbox.faults import Fault
from tap_perfreports.vendors.infinity import EVENT_WINDOW_DAYS
from tap_perfreports.windows import plan_windows
from tests.helpers import run_tap, sandbox_config


def test_sigkill_mid_backfill_then_resume_lands_every_row(sandbox, tmp_path):
    config = sandbox_config(
        sandbox,
        "infinity",
        "2026-01-01",
        "2026-06-30",
        igrps=[1001],
        lookback_days=0,
        max_concurrent_requests=1,  # the 4th request to arrive is the 4th window's
        reports=[{"name": "triggers", "route": "triggers/all", "display": ["act"]}],
    )
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    # the 4th window's request hangs until the tap is killed
    hang = sandbox.faults.add(Fault("delay", vendor="infinity", skip=3, delay=60))
    output = (tmp_path / "out.jsonl").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_perfreports", "--config", str(config_path)],
        stdout=output,
        stderr=subprocess.DEVNULL,
    )
    windows = plan_windows(dt.date(2026, 1, 1), dt.date(2026, 6, 30), EVENT_WINDOW_DAYS)
    third_done = f'"replication_key_value":"{windows[2].end.isoformat()}"'
    deadline = time.monotonic() + 60
    # kill once the three windows before the hang are emitted
    while time.monotonic() < deadline and (
        hang.times or third_done not in (tmp_path / "out.jsonl").read_text()
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    output.close()
    assert hang.times == 0, "the tap never reached the hanging request"

    messages = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    first_rows = [m["record"] for m in messages if m["type"] == "RECORD"]
    state = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    bookmark = state["bookmarks"]["infinity_triggers"]["partitions"][0]["replication_key_value"]
    # the backfill began on start_date itself, and three windows were finished
    assert sandbox.ledger.requests[0].query["startDate"] == ["2026-01-01"]
    assert bookmark == windows[2].end.isoformat()
    assert max(r["trigger_datetime"] for r in first_rows) < windows[3].start.isoformat()

    sandbox.ledger.reset()
    resumed = run_tap(config, state=state)
    assert resumed.returncode == 0, resumed.stderr
    starts = sorted(r.query["startDate"][0] for r in sandbox.ledger.requests)
    assert starts[0] == windows[3].start.isoformat(), "the resumed run started over"
    landed = [(r["igrp"], r["row_id"]) for r in first_rows + resumed.records("infinity_triggers")]
    expected = {
        (1001, e["rowId"])
        for e in emulated.events_between(1001, dt.date(2026, 1, 1), dt.date(2026, 6, 30), dt.UTC)
    }
    assert set(landed) == expected
    assert len(landed) == len(expected), "a row arrived twice"
