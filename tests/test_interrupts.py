"""SIGTERM and SIGINT mid-run: exit 143 or 130, everything written so far flushed with its
STATE, a last line that says so, and a rerun from that state that loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest

from tests import reliability_table
from tests.helpers import TapRun, assert_no_secret, known_secrets, run_tap
from tests.reliability.scenarios import Truth, judge

pytestmark = pytest.mark.reliability


def config(sandbox: t.Any) -> dict[str, t.Any]:
    return {
        "sandbox": True,
        "start_date": "2026-05-01",
        "end_date": "2026-10-31",
        "infinity": {
            "api_url": sandbox.url("infinity"),
            "igrps": [1001, 1002],
            "page_size": 200,
            "max_concurrent_requests": 1,
        },
    }


def start_tap(config: dict, folder: Path) -> tuple[subprocess.Popen, Path, Path]:
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config))
    out, err = folder / "out.jsonl", folder / "err.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_perfreports", "--config", str(config_path)],
            stdout=stdout,
            stderr=stderr,
        )
    return process, out, err


def wait_for_states(out: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while out.read_bytes().count(b'"type":"STATE"') < count:
        assert time.monotonic() < deadline, "the run wrote no STATE in time"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")],
    ids=["SIGTERM", "SIGINT"],
)
def test_an_interrupted_run_exits_non_zero_flushed_and_resumable(
    sandbox, tmp_path: Path, signum: int, code: int, name: str
):
    truth = Truth.of(run_tap(config(sandbox)))
    sandbox.faults.latency = 0.05
    process, out, err = start_tap(config(sandbox), tmp_path)
    try:
        wait_for_states(out, 3)
        process.send_signal(signum)
        assert process.wait(timeout=60) == code
    finally:
        process.kill()
    sandbox.faults.latency = 0.0
    stdout, stderr = out.read_text(), err.read_text()
    assert_no_secret(stdout + stderr, known_secrets(config(sandbox)))
    assert "Traceback" not in stderr
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert f"Interrupted by {name}" in last, last
    assert "the next run resumes from the last completed window" in last
    assert stdout.endswith("\n")
    messages = [json.loads(line) for line in stdout.splitlines()]  # no half-written line
    interrupted = TapRun(code, messages, stderr, stdout)
    assert interrupted.state, "no STATE was written"
    assert len(interrupted.records("infinity_triggers")) < len(
        [k for k in truth.rows if k[0] == "infinity_triggers"]
    ), "the run finished before the signal: nothing was interrupted"

    rerun = run_tap(config(sandbox), state=interrupted.state)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    verdict = judge(truth, [interrupted, rerun])
    reliability_table.record(
        "interrupts (SIGTERM, SIGINT)",
        faults=1,
        runs=2,
        expected=verdict.expected,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        stale=verdict.wrong,
        unhandled=int("Traceback" in stderr),
    )
    assert (verdict.lost, verdict.duplicated, verdict.wrong) == (0, 0, 0), verdict
