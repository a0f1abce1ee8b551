"""The Dagster project runs the Meltano jobs: five vendors in parallel, each with its state.

`vendor_jobs` is executed by Dagster in this process (a persistent temporary instance; the
multiprocess executor starts each step in its own process), against the sandbox, into
PostgreSQL, with Meltano's system database (its state) on the same PostgreSQL server, as a
deployment on many workers would share it. Checked: the five steps ran at once in five
processes, each vendor has its own Meltano state, every landed value equals the truth; then,
after the vendors restate their last days, a second execution asks each vendor only for the
lookback and the new days, and the warehouse again equals the truth. A second test checks
that the Dagster project holds every job and schedule `meltano job/schedule list` shows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import typing as t
from pathlib import Path

import dagster
import pytest

from orchestrate import definitions
from tap_perfreports.vendors import citygrid
from tests.e2e.conftest import Meltano, Postgres
from tests.e2e.test_restatement import meltano_env
from tests.e2e.warehouse import judge, truth_of
from tests.helpers import run_tap
from tests.vendor_cases import CASES, all_vendors

pytestmark = pytest.mark.e2e

VENDORS = ["infinity", "plumvoice", "adobe_target", "citygrid", "mintegral"]
STATE_IDS = {f"dev:tap-perfreports-{v.replace('_', '-')}-to-target-postgres" for v in VENDORS}


def requested_days(vendor: str, path: str, query: dict[str, list[str]], today: dt.date):
    """The first and last reporting day one report request asks for (None: not a report)."""
    day = dt.date.fromisoformat
    if vendor == "infinity" and "startDate" in query:
        return day(query["startDate"][0]), day(query["endDate"][0])
    if vendor == "plumvoice" and path.startswith("/api/performance/"):
        first, last = path.split("/")[3:5]  # YYYYMMDD, which fromisoformat reads
        return day(first), day(last)
    if vendor == "adobe_target" and "start" in query:
        # half-open: `end` is the first minute after the range (issue 15)
        end = dt.datetime.fromisoformat(query["end"][0]) - dt.timedelta(minutes=1)
        return day(query["start"][0][:10]), end.date()
    if vendor == "citygrid" and "view_type" in query:
        span = citygrid.preset_range(query["report_time"][0], today)
        return span.start, span.end
    if vendor == "mintegral" and "start_time" in query:
        return day(query["start_time"][0]), day(query["end_time"][0])
    return None


def execute_vendor_jobs(instance: t.Any, env: dict[str, str]) -> t.Any:
    result = dagster.execute_job(
        dagster.reconstructable(definitions.vendor_jobs),
        instance=instance,
        run_config={"resources": {"meltano": {"config": {"env": env}}}},
    )
    if not result.success:
        failures = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        pytest.fail(f"vendor_jobs failed: {failures}")
    return result


def step_times(instance: t.Any, run_id: str, event_type: str) -> dict[str, float]:
    return {
        record.step_key: record.timestamp
        for record in instance.all_logs(run_id)
        if record.dagster_event and record.dagster_event.event_type_value == event_type
    }


def test_vendor_jobs_run_in_parallel_with_their_own_state_and_then_incrementally(
    sandbox, postgres: Postgres, meltano: Meltano, tmp_path: Path
):
    system_db = f"meltano_{meltano.schema}"
    postgres.query(f"create database {system_db}")
    uri = f"postgresql+psycopg2://{postgres.user}@{postgres.host}:{postgres.port}/{system_db}"
    case = CASES["infinity"]  # every case shares its dates
    base = {k: v for k, v in meltano.env.items() if os.environ.get(k) != v}
    base["MELTANO_DATABASE_URI"] = uri
    # Meltano migrates its system database on first use: once, before five processes do.
    migrated = meltano.run("state", "list", env={"MELTANO_DATABASE_URI": uri})
    assert migrated.returncode == 0, migrated.output[-3000:]

    (tmp_path / "dagster").mkdir()
    with dagster.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = execute_vendor_jobs(
            instance, base | meltano_env(sandbox, case.end, "default", tmp_path)
        )
        # Parallel: five step processes, and a moment when all five were running.
        starts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
        assert {e.step_key for e in starts} == {f"meltano_run_{v}" for v in VENDORS}
        assert len({e.pid for e in starts} - {os.getpid()}) == 5
        started = step_times(instance, result.run_id, "STEP_START")
        finished = step_times(instance, result.run_id, "STEP_SUCCESS")
        assert set(finished) == set(started)
        assert max(started.values()) < min(finished.values()), (started, finished)

        states = meltano.run("state", "list", env={"MELTANO_DATABASE_URI": uri})
        assert states.returncode == 0, states.output[-3000:]
        assert set(states.stdout.split()) == STATE_IDS

        truth = truth_of(run_tap(all_vendors(sandbox)))
        verdict = judge(truth, postgres.query, meltano.schema)
        assert verdict.expected > 500
        assert verdict.clean, verdict

        # The vendors restate their last days; the second execution is incremental.
        sandbox.restate(dt.date.fromisoformat(case.end))
        sandbox.ledger.reset()
        now = dt.datetime.now(dt.UTC)
        execute_vendor_jobs(instance, base | meltano_env(sandbox, case.later, "default", tmp_path))

    lookback_start = dt.date.fromisoformat(case.end) + dt.timedelta(days=1 - case.lookback_days)
    later = dt.date.fromisoformat(case.later)
    asked: dict[str, list[tuple[dt.date, dt.date]]] = {v: [] for v in VENDORS}
    today = citygrid.reporting_today(now)
    for request in sandbox.ledger.requests:
        span = requested_days(request.vendor, request.path, request.query, today)
        if span:
            asked[request.vendor].append(span)
    for vendor in ["infinity", "plumvoice", "adobe_target", "mintegral"]:
        assert asked[vendor], f"{vendor}: no report request"
        # Every request within the lookback and the new days, and together all of them.
        assert all(lookback_start <= a <= b <= later for a, b in asked[vendor]), asked[vendor]
        assert min(a for a, _ in asked[vendor]) == lookback_start, (vendor, asked[vendor])
        assert max(b for _, b in asked[vendor]) == later, (vendor, asked[vendor])
    # CityGrid asks by preset: exactly the presets the tap plans for the lookback's days.
    plan = citygrid.choose_presets(lookback_start, later, today)
    spans = {(r.span.start, r.span.end) for r in plan.requests}
    assert asked["citygrid"]
    assert set(asked["citygrid"]) == spans, (asked["citygrid"], spans)
    assert min(start for start, _ in spans) > dt.date.fromisoformat(case.start)

    truth = truth_of(run_tap(all_vendors(sandbox) | {"end_date": case.later}))
    verdict = judge(truth, postgres.query, meltano.schema)
    assert verdict.clean, verdict


def test_the_dagster_project_loads_every_meltano_job_and_schedule(meltano: Meltano):
    """What Dagster loads is what Meltano lists: every job with its tasks, every schedule
    with its cron (UTC) and job; the all-in-one and the shard jobs' schedules start
    stopped (each is an alternative to vendor jobs, which would extract again)."""
    listed = meltano.run("schedule", "list", "--format=json")
    assert listed.returncode == 0, listed.output[-3000:]
    schedules = json.loads(listed.stdout)["schedules"]["job"]
    jobs = meltano.run("job", "list", "--format=json")
    assert jobs.returncode == 0, jobs.output[-3000:]
    meltano_jobs = {j["job_name"]: j["tasks"] for j in json.loads(jobs.stdout)["jobs"]}

    defs = definitions.defs
    for name, tasks in meltano_jobs.items():
        job = defs.resolve_job_def(name)
        (node,) = job.graph.node_defs
        assert node.description == f"meltano run {name}: {'; '.join(tasks)}"
    vendor_steps = {n.name for n in definitions.vendor_jobs.graph.node_defs}
    assert vendor_steps == {f"meltano_run_{v}" for v in VENDORS}
    assert {"plumvoice_shard_1_of_2", "plumvoice_shard_2_of_2"} <= set(meltano_jobs)
    loaded = {s.name: defs.resolve_schedule_def(s.name) for s in defs.schedules or []}
    assert set(loaded) == {s["name"].replace("-", "_") for s in schedules}
    for schedule in schedules:
        dagster_schedule = loaded[schedule["name"].replace("-", "_")]
        assert dagster_schedule.cron_schedule == schedule["cron_interval"]
        assert dagster_schedule.execution_timezone == "UTC"
        assert dagster_schedule.job_name == schedule["job"]["name"]
        stopped = dagster_schedule.default_status == dagster.DefaultScheduleStatus.STOPPED
        shard = "_shard_" in schedule["job"]["name"]
        assert stopped is (schedule["job"]["name"] == "perfreports" or shard)
