"""Through Meltano as users run it: an interrupt fails `meltano run` and the rerun finishes
the job; a bad setting given as an environment variable fails in one line of the tap's,
naming the setting as typed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import typing as t
from pathlib import Path

import pytest

from tests import reliability_table
from tests.e2e.conftest import MELTANO, Meltano
from tests.e2e.warehouse import judge, truth_of
from tests.helpers import assert_no_secret, known_secrets, run_tap

pytestmark = pytest.mark.e2e

START, END = "2026-05-01", "2026-10-31"


def infinity_env(sandbox: t.Any) -> dict[str, str]:
    return {
        "TAP_PERFREPORTS_START_DATE": START,
        "TAP_PERFREPORTS_END_DATE": END,
        "TAP_PERFREPORTS_INFINITY_API_URL": sandbox.url("infinity"),
        "TAP_PERFREPORTS_INFINITY_PAGE_SIZE": "200",
        "TAP_PERFREPORTS_INFINITY_MAX_CONCURRENT_REQUESTS": "1",
    }


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM to the group", "Ctrl-C"]
)
def test_an_interrupted_meltano_run_fails_and_the_rerun_lands_the_truth(
    sandbox, meltano: Meltano, tmp_path: Path, signum: int
):
    """A scheduler's SIGTERM, or Ctrl-C in a terminal, reaches the whole process group:
    Meltano, the tap and the target."""
    config = {
        "sandbox": True,
        "start_date": START,
        "end_date": END,
        "infinity": {"api_url": sandbox.url("infinity"), "page_size": 200},
    }
    truth = truth_of(run_tap(config))
    sandbox.ledger.reset()
    sandbox.faults.latency = 0.05
    log = (tmp_path / "meltano.log").open("w+")
    process = subprocess.Popen(
        [str(MELTANO), "run", "tap-perfreports-infinity", "target-duckdb"],
        cwd=meltano.project,
        env={**meltano.env, **infinity_env(sandbox)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while sum(1 for r in sandbox.ledger.requests if "triggers" in r.path) < 8:
            assert time.monotonic() < deadline, "the run made no progress"
            assert process.poll() is None, "the run ended before the signal"
            time.sleep(0.05)
        os.killpg(process.pid, signum)
        code = process.wait(timeout=120)
    finally:
        with_group_killed(process)
    sandbox.faults.latency = 0.0
    log.seek(0)
    output = log.read()
    assert_no_secret(output, known_secrets())
    assert code != 0, "meltano run reported success for an interrupted run"
    name = signal.Signals(signum).name
    assert f"Interrupted by {name}" in output, output[-3000:]

    rerun = meltano.run(
        "run", "tap-perfreports-infinity", "target-duckdb", env=infinity_env(sandbox)
    )
    assert rerun.returncode == 0, rerun.output[-3000:]
    verdict = judge(truth, meltano.duckdb, meltano.schema, empty_is_null=True)
    reliability_table.record(
        "interrupts (meltano run, DuckDB)",
        faults=1,
        runs=2,
        expected=verdict.expected,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        stale=verdict.stale,
    )
    assert verdict.clean, verdict


def with_group_killed(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        ({"TAP_PERFREPORTS_INFINITY_MAX_CONCURRENT_REQUESTS": "0"},
         "Invalid setting 'infinity.max_concurrent_requests': 0 is less than the minimum of 1"),
        ({"TAP_PERFREPORTS_START_DATE": "2026-13-11"},
         "Invalid setting 'start_date': '2026-13-11' is not a date"),
        ({"TAP_PERFREPORTS_INFINITY_LOOKBACK_DAYS": "abc"},
         "Invalid setting 'infinity.lookback_days': 'abc' is not of type 'integer'"),
    ],
    ids=["concurrency 0", "month 13", "lookback abc"],
)  # fmt: skip
def test_a_bad_environment_variable_fails_in_one_line_of_the_taps(
    sandbox, meltano: Meltano, variables: dict[str, str], line: str
):
    """Meltano discovers before it runs, so discovery validates too; the kinds in
    meltano.yml let the value reach the tap as typed (no date or integer reinterpretation)."""
    env = {"TAP_PERFREPORTS_INFINITY_API_URL": sandbox.url("infinity"), **variables}
    run = meltano.run("invoke", "tap-perfreports-infinity", env=env)
    assert run.returncode != 0
    assert line in run.output, run.output[-3000:]
    assert "tap_perfreports/" not in run.output, "the tap printed a traceback"
    assert sandbox.ledger.requests == []


def test_a_misspelt_vendor_variable_is_not_a_silent_success(meltano: Meltano):
    """Under the prod environment nothing fills in a vendor: a misspelt variable leaves
    none configured, which fails instead of extracting nothing with "Run completed"."""
    env = {"TAP_PERFREPORTS_START_DATE": "2026-10-01", "TAP_PERFREPORTS_INFINTY_USERNAME": "me"}
    run = meltano.run("--environment", "prod", "invoke", "tap-perfreports", env=env)
    assert run.returncode != 0
    assert "Invalid setting 'config': no vendor is configured" in run.output, run.output[-3000:]
