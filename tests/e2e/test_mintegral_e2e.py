"""`meltano run` lands mintegral_performance exactly once, in PostgreSQL and DuckDB."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_perfreports.sandbox import mintegral as emulated
from tap_perfreports.vendors import mintegral as m
from tests.e2e.conftest import Meltano, Postgres

pytestmark = pytest.mark.e2e

NOW = dt.datetime(2026, 3, 10, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
STREAM = "mintegral_performance"
DEFAULT = ("Offer", "Campaign", "Location")


def test_postgres_and_duckdb_hold_every_served_row_once(
    sandbox, postgres: Postgres, meltano: Meltano
):
    emulator = sandbox.emulators["mintegral"]
    emulator.now = NOW
    emulator.generation_delay = 0.05
    env = {
        "TAP_PERFREPORTS_START_DATE": "2026-02-01",
        "TAP_PERFREPORTS_END_DATE": "2026-03-05",
        "TAP_PERFREPORTS_MINTEGRAL_API_URL": sandbox.url("mintegral"),
        emulated.NOW_ENV: NOW.isoformat(),
    }
    for target in ("target-postgres", "target-duckdb"):
        run = meltano.run("run", "tap-perfreports-mintegral", target, env=env)
        assert run.returncode == 0, run.output[-3000:]
    served = sandbox.ledger.served_keys(emulated.table_name(DEFAULT, "daily"))
    assert served
    columns = m.MintegralReport("performance", DEFAULT).primary_keys()
    select = ", ".join(f"cast({c} as varchar)" for c in columns)
    sql = f"select {select} from {meltano.schema}.{STREAM}"  # noqa: S608
    expected = {tuple(map(str, key)) for key in served}
    for landed in (postgres.query(sql), meltano.duckdb(sql)):
        assert len(landed) == len(set(landed)), "a primary key landed twice"
        assert set(landed) == expected
