"""Dagster definitions for this Meltano project: its jobs and schedules, as Dagster runs them.

    pip install -e '.[orchestrate]'
    dagster dev -m orchestrate.definitions        # the UI and the schedule daemon, locally

Loaded from meltano.yml, so a job or schedule added there appears here:

- one Dagster job per Meltano job (`infinity`, ..., `perfreports`), one op that runs
  `meltano run <job>` in the project;
- one Dagster schedule per Meltano schedule, same cron, in UTC; the vendor jobs' are on by
  default, `perfreports-daily` (every vendor again, in one tap process) is off, and so are
  the shard jobs' (`plumvoice_shard_1_of_2`, ...: each a share of a vendor's partitions,
  to run instead of that vendor's job, see `orchestrate/meltano_project.py`);
- `vendor_jobs`: the five vendor jobs (not the shard jobs) as five ops of one run, in
  parallel, each step in its own process (the multiprocess executor; on Kubernetes or
  Celery, the same run with `k8s_job_executor` or `celery_executor` puts each step on its
  own worker).

Each op is a `meltano run` of one Meltano job, so each vendor keeps its own state, in the
Meltano system database (MELTANO_DATABASE_URI): share it between workers (PostgreSQL),
with the Meltano state backend on object storage if you prefer (README "Deploying").

Why not dagster-meltano: its last release (1.5.5) needs dagster-shell, whose last release
(0.25.13) pins dagster 1.9.13; dagster-shell was retired in Dagster 1.10. Running
`meltano run` from an op is all it did for jobs.
"""

import os
import subprocess
import sys
from collections import deque
from functools import cache
from pathlib import Path

import yaml
from dagster import (
    ConfigurableResource,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    JobDefinition,
    OpDefinition,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    multiprocess_executor,
    op,
)

from orchestrate.meltano_project import shard_jobs

PROJECT_DIR = Path(__file__).resolve().parent.parent
MELTANO_PROJECT = yaml.safe_load((PROJECT_DIR / "meltano.yml").read_text())
#: The Meltano job that runs every vendor in one tap process: scheduled, but off by default.
ALL_IN_ONE_JOB = "perfreports"
MELTANO_JOBS: dict[str, list[str]] = {j["name"]: j["tasks"] for j in MELTANO_PROJECT["jobs"]}
#: Jobs that extract one shard of a vendor: instead of its job, so off by default too.
SHARD_JOBS = shard_jobs(MELTANO_PROJECT)
VENDOR_JOBS = [name for name in MELTANO_JOBS if name != ALL_IN_ONE_JOB and name not in SHARD_JOBS]
#: Lines of a failed run's log kept in the failure (the whole log goes to the op's log).
FAILURE_TAIL = 40


def _default_meltano() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else "meltano"


class MeltanoProject(ConfigurableResource):
    """The Meltano project the ops run in, and how to run `meltano`."""

    project_dir: str = str(PROJECT_DIR)
    meltano_bin: str = _default_meltano()
    #: Meltano environment (`--environment`); empty: the project's default_environment.
    environment: str = ""
    #: Environment variables for `meltano`, over the worker's own (settings, credentials
    #: are better left in the worker's environment than in run config).
    env: dict[str, str] = {}

    def run(self, context: OpExecutionContext, *args: str) -> None:
        command = [self.meltano_bin]
        if self.environment:
            command += ["--environment", self.environment]
        command += list(args)
        context.log.info(f"running {' '.join(command)} in {self.project_dir}")
        tail: deque[str] = deque(maxlen=FAILURE_TAIL)
        with subprocess.Popen(
            command,
            cwd=self.project_dir,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip())
                context.log.debug(line.rstrip())
        if process.returncode != 0:
            raise Failure(
                description=f"meltano {' '.join(args)} exited with {process.returncode}",
                metadata={"log_tail": "\n".join(tail)},
            )


#: Configure per run (run config `resources.meltano.config`) or per deployment (the
#: worker's environment: MELTANO_DATABASE_URI, credentials, TAP_PERFREPORTS_* settings).
RESOURCES = {"meltano": MeltanoProject()}


@cache  # one definition per op name, shared by the jobs that use it
def meltano_job_op(name: str) -> OpDefinition:
    """An op that runs the Meltano job `name` (`meltano run <name>`)."""

    @op(
        name=f"meltano_run_{name}",
        description=f"meltano run {name}: {'; '.join(MELTANO_JOBS[name])}",
        tags={"kind": "meltano"},
    )
    def run_meltano_job(context: OpExecutionContext, meltano: MeltanoProject) -> None:
        meltano.run(context, "run", name)

    return run_meltano_job


def meltano_job(name: str) -> JobDefinition:
    step = meltano_job_op(name)

    @job(
        name=name,
        description=f"The Meltano job {name}: {'; '.join(MELTANO_JOBS[name])}",
        resource_defs=RESOURCES,
    )
    def single_meltano_job() -> None:
        step()

    return single_meltano_job


@job(
    description="Every vendor job at once, each step in its own process with its own state.",
    resource_defs=RESOURCES,
    executor_def=multiprocess_executor.configured({"max_concurrent": len(VENDOR_JOBS)}),
)
def vendor_jobs() -> None:
    for name in VENDOR_JOBS:
        meltano_job_op(name)()


JOBS = {name: meltano_job(name) for name in MELTANO_JOBS}
SCHEDULES = [
    ScheduleDefinition(
        name=schedule["name"].replace("-", "_"),
        cron_schedule=schedule["interval"],
        execution_timezone="UTC",  # Meltano's cron times are UTC
        job=JOBS[schedule["job"]],
        default_status=(
            DefaultScheduleStatus.STOPPED
            if schedule["job"] == ALL_IN_ONE_JOB or schedule["job"] in SHARD_JOBS
            else DefaultScheduleStatus.RUNNING
        ),
        description=f"Meltano schedule {schedule['name']}",
    )
    for schedule in MELTANO_PROJECT.get("schedules", [])
]

defs = Definitions(jobs=[*JOBS.values(), vendor_jobs], schedules=SCHEDULES)
