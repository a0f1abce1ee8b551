"""SIGKILL the tap at many points of a five-vendor backfill through `meltano run` into
PostgreSQL; each time a rerun must finish the job, and the warehouse must equal the truth,
value for value.

The sandbox kills the tap itself, synchronously, when the chosen request arrives (a `call`
fault finds the process by the request's source port), so the kill points do not depend
on timing: request numbers from a seeded generator, plus a kill while Mintegral polls a
report job and one while Plum Voice waits for its rate limit to reset.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import threading
import typing as t

import psutil
import pytest

from tap_perfreports.clock import SANDBOX_NOW_ENV
from tap_perfreports.sandbox.faults import Fault
from tests import reliability_table
from tests.e2e.conftest import Meltano, Postgres
from tests.e2e.warehouse import judge, truth_of
from tests.helpers import run_tap
from tests.reliability.scenarios import secret_hits

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

NOW = "2026-11-20T12:00:00-08:00"
START, END = "2026-11-06", "2026-11-18"
RANDOM_KILLS = 18


def vendor_settings(sandbox) -> dict[str, dict[str, t.Any]]:
    return {
        "infinity": {"api_url": sandbox.url("infinity"), "page_size": 100},
        "plumvoice": {
            "api_url": sandbox.url("plumvoice"),
            "phones": ["6175550100", "6175550101", "6175550102"],
            "requests_per_window": 2,
            "window_seconds": 2,
        },
        # the throttle's window shortened like Plum Voice's (50 per 2 s; the emulator's too)
        "adobe_target": {"api_url": sandbox.url("adobe_target"), "window_seconds": 2},
        "citygrid": {"api_url": sandbox.url("citygrid"), "publisher_codes": ["guest", "pub_seo"]},
        "mintegral": {"api_url": sandbox.url("mintegral")},
    }


def meltano_env(sandbox) -> dict[str, str]:
    """The same settings as Meltano environment variables (lists and objects as JSON)."""
    import json

    env = {
        "TAP_PERFREPORTS_START_DATE": START,
        "TAP_PERFREPORTS_END_DATE": END,
        SANDBOX_NOW_ENV: NOW,
    }
    for vendor, settings in vendor_settings(sandbox).items():
        for name, value in settings.items():
            text = value if isinstance(value, str) else json.dumps(value)
            env[f"TAP_PERFREPORTS_{vendor.upper()}_{name.upper()}"] = text
    return env


def kill_sender(delay: float = 0.0) -> t.Callable[[tuple[str, int]], None]:
    """A fault action: SIGKILL the process that sent the request, now or `delay` s later."""

    def kill(client: tuple[str, int]) -> None:
        port = client[1]
        pids = {
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.pid and c.pid != os.getpid()
        }
        for pid in pids:
            if delay:
                threading.Timer(delay, os.kill, (pid, signal.SIGKILL)).start()
            else:
                os.kill(pid, signal.SIGKILL)

    return kill


@pytest.fixture
def five_vendors(sandbox):
    """The sandbox with the emulators on the tap's frozen clock."""
    now = dt.datetime.fromisoformat(NOW)
    sandbox.emulators["citygrid"].now = now
    sandbox.emulators["mintegral"].now = now
    sandbox.emulators["mintegral"].generation_delay = 0.5  # polls happen
    sandbox.emulators["plumvoice"].requests_per_window = 2  # waits happen
    sandbox.emulators["plumvoice"].window_seconds = 2.0
    sandbox.emulators["adobe_target"].window_seconds = 2.0  # 40 runs: no minute-long waits
    return sandbox


def test_sigkill_at_20_points_then_rerun_lands_exactly_the_truth(
    five_vendors, postgres: Postgres, meltano_project, tmp_path
):
    sandbox = five_vendors
    config = {"sandbox": True, "start_date": START, "end_date": END, **vendor_settings(sandbox)}
    reference = run_tap(config, env={**os.environ, SANDBOX_NOW_ENV: NOW})
    truth = truth_of(reference)
    assert set(truth) >= {
        "infinity_triggers",
        "plumvoice_performance",
        "adobe_target_steps",
        "citygrid_overall",
        "mintegral_performance",
    }
    # Mintegral's polls vary with timing: draw from the first 80%, which every run makes
    requests_per_run = int(len(sandbox.ledger.requests) * 0.8)

    rng = random.Random(20261123)
    points: list[tuple[str, Fault]] = [
        (f"request {n}", Fault("call", skip=n - 1, action=kill_sender()))
        for n in sorted(rng.sample(range(1, requests_per_run), RANDOM_KILLS))
    ]
    points.append(
        ("a Mintegral poll", Fault("call", "mintegral", query={"type": "1"}, skip=1,
                                   action=kill_sender()))
    )  # fmt: skip
    # a 429 that says come back in 5 s: the tap is killed 1 s into that wait
    wait = {"Retry-After": "5", "X-RateLimit-Reset": "", "X-RateLimit-Remaining": ""}
    points.append(
        ("a Plum Voice rate-limit wait", Fault("status", "plumvoice", status=429, skip=1,
                                               headers=wait, action=kill_sender(delay=1.0)))
    )  # fmt: skip

    env = meltano_env(sandbox)
    totals = {"runs": 0, "lost": 0, "duplicated": 0, "stale": 0, "hits": 0, "unhandled": 0}
    for number, (label, fault) in enumerate(points):
        melt = Meltano(meltano_project, tmp_path / f"kill{number}", postgres)
        (tmp_path / f"kill{number}").mkdir()
        sandbox.faults.clear()
        sandbox.faults.add(fault)
        killed = melt.run("run", "tap-perfreports", "target-postgres", env=env)
        assert fault.hits == 1, f"{label}: never reached: {killed.output[-3000:]}"
        assert killed.returncode != 0, f"{label}: the run was not killed"
        sandbox.faults.clear()
        rerun = melt.run("run", "tap-perfreports", "target-postgres", env=env)
        assert rerun.returncode == 0, f"{label}: {rerun.output[-3000:]}"
        verdict = judge(truth, postgres.query, melt.schema)
        totals["runs"] += 2
        totals["lost"] += verdict.lost
        totals["duplicated"] += verdict.duplicated
        totals["stale"] += verdict.stale
        totals["hits"] += secret_hits(killed.output + rerun.output)
        totals["unhandled"] += "Traceback" in rerun.output
        assert verdict.clean, f"{label}: {verdict}"
    reliability_table.record(
        "kill and resume (meltano, PostgreSQL)",
        faults=len(points),
        runs=totals["runs"],
        expected=sum(len(stream.rows) for stream in truth.values()) * len(points),
        lost=totals["lost"],
        duplicated=totals["duplicated"],
        stale=totals["stale"],
        secret_hits=totals["hits"],
        unhandled=totals["unhandled"],
    )
    assert totals["hits"] == 0
    assert totals["unhandled"] == 0
