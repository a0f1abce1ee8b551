"""`meltano run` lands plumvoice_performance exactly once, in PostgreSQL and in DuckDB."""

from __future__ import annotations

import json

import pytest

from tap_perfreports.sandbox import plumvoice as emulated
from tests.e2e.conftest import Meltano, Postgres

pytestmark = pytest.mark.e2e

STREAM = "plumvoice_performance"


def settings(sandbox) -> dict[str, str]:
    return {
        "TAP_PERFREPORTS_START_DATE": "2026-06-01",
        "TAP_PERFREPORTS_END_DATE": "2026-08-31",
        "TAP_PERFREPORTS_PLUMVOICE_API_URL": sandbox.url("plumvoice"),
        "TAP_PERFREPORTS_PLUMVOICE_PHONES": json.dumps(["ALL", *emulated.PHONES[:2]]),
    }


def test_postgres_and_duckdb_hold_every_served_period_once(
    sandbox, postgres: Postgres, meltano: Meltano
):
    for target in ("target-postgres", "target-duckdb"):
        run = meltano.run("run", "tap-perfreports-plumvoice", target, env=settings(sandbox))
        assert run.returncode == 0, run.output[-3000:]
    served = sandbox.ledger.served_keys(STREAM)
    assert len(served) == 3 * 92  # three phones, June to August, by day

    in_postgres = postgres.query(
        "select phone, period, to_char(period_start at time zone 'UTC', "  # noqa: S608
        f"""'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') from {meltano.schema}.{STREAM}"""
    )
    in_duckdb = meltano.duckdb(
        "select phone, period, strftime(period_start, '%Y-%m-%dT%H:%M:%S+00:00') "  # noqa: S608
        f"from {meltano.schema}.{STREAM}"
    )
    for landed in (in_postgres, in_duckdb):
        assert len(landed) == len(set(landed)), "a primary key landed twice"
        assert set(landed) == served
