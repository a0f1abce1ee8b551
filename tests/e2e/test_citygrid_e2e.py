"""`meltano run` lands the three CityGrid streams exactly once, in PostgreSQL and DuckDB."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_perfreports.sandbox import citygrid as emulated
from tests.e2e.conftest import Meltano, Postgres

pytestmark = pytest.mark.e2e

NOW = "2026-11-20T20:00:00+00:00"  # noon, Friday, in Los Angeles
START, END = "2026-10-25", "2026-11-19"
VIEWS = {
    "citygrid_overall": "overall",
    "citygrid_ads": "ads",
    "citygrid_places_that_pay": "placesThatPay",
}


def test_postgres_and_duckdb_hold_exactly_the_kept_days(
    sandbox, postgres: Postgres, meltano: Meltano
):
    sandbox.emulators["citygrid"].now = dt.datetime.fromisoformat(NOW)
    env = {
        "TAP_PERFREPORTS_START_DATE": START,
        "TAP_PERFREPORTS_END_DATE": END,
        "TAP_PERFREPORTS_CITYGRID_API_URL": sandbox.url("citygrid"),
        emulated.NOW_ENV: NOW,  # the tap's clock, honoured in sandbox mode only
    }
    for target in ("target-postgres", "target-duckdb"):
        run = meltano.run("run", "tap-perfreports-citygrid", target, env=env)
        assert run.returncode == 0, run.output[-3000:]
    for stream, view in VIEWS.items():
        # presets serve whole ranges; the tap keeps only the days it was asked for
        served = {k for k in sandbox.ledger.served_keys(f"citygrid:{view}") if START <= k[2] <= END}
        assert served, stream
        columns = "publisher_code, placement, cast(date as varchar)"
        sql = f"select {columns} from {meltano.schema}.{stream}"  # noqa: S608
        for landed in (postgres.query(sql), meltano.duckdb(sql)):
            assert len(landed) == len(set(landed)), f"{stream}: a primary key landed twice"
            assert set(landed) == served
