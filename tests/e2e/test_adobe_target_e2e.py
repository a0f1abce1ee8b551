"""`meltano run` lands the three Adobe Target streams exactly once, in PostgreSQL and DuckDB."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Meltano, Postgres

pytestmark = pytest.mark.e2e

GRAIN = "campaign_id, metric_type, segment_id, {start}, duration, recipe_name"
KEYS = {
    "adobe_target_steps": GRAIN + ", step_name",
    "adobe_target_recipes": GRAIN,
    "adobe_target_engagement": GRAIN + ", step_name",
}
PG_START = """to_char(sample_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')"""
DUCK_START = "strftime(sample_start, '%Y-%m-%dT%H:%M:%S+00:00')"


def settings(sandbox) -> dict[str, str]:
    return {
        "TAP_PERFREPORTS_START_DATE": "2026-09-01",
        "TAP_PERFREPORTS_END_DATE": "2026-09-20",
        "TAP_PERFREPORTS_ADOBE_TARGET_API_URL": sandbox.url("adobe_target"),
        "TAP_PERFREPORTS_ADOBE_TARGET_SEGMENTS": "all",
    }


def test_postgres_and_duckdb_hold_every_served_row_once(
    sandbox, postgres: Postgres, meltano: Meltano
):
    for target in ("target-postgres", "target-duckdb"):
        run = meltano.run("run", "tap-perfreports-adobe-target", target, env=settings(sandbox))
        assert run.returncode == 0, run.output[-3000:]
    for stream, columns in KEYS.items():
        served = sandbox.ledger.served_keys(stream)
        assert served, stream
        in_postgres = postgres.query(
            f"select {columns.format(start=PG_START)} from {meltano.schema}.{stream}"  # noqa: S608
        )
        in_duckdb = meltano.duckdb(
            f"select {columns.format(start=DUCK_START)} from {meltano.schema}.{stream}"  # noqa: S608
        )
        for landed in (in_postgres, in_duckdb):
            assert len(landed) == len(set(landed)), f"{stream}: a primary key landed twice"
            assert {tuple(map(str, k)) for k in landed} == {tuple(map(str, k)) for k in served}
