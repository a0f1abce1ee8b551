"""`meltano run` lands the Infinity streams exactly once, in PostgreSQL and in DuckDB."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Meltano, Postgres

pytestmark = pytest.mark.e2e

TRIGGERS = "infinity:triggers/all"
CHANNELS = "infinity:metrics/channels"


def settings(sandbox, start: str, end: str) -> dict[str, str]:
    return {
        "TAP_PERFREPORTS_START_DATE": start,
        "TAP_PERFREPORTS_END_DATE": end,
        "TAP_PERFREPORTS_INFINITY_API_URL": sandbox.url("infinity"),
        "TAP_PERFREPORTS_INFINITY_LOOKBACK_DAYS": "2",
    }


def channel_keys(sandbox) -> set[tuple]:
    """(igrp, date, ch) of every channel row served: one-day requests carry the date."""
    return {(igrp, start, ch) for igrp, start, _end, ch in sandbox.ledger.served_keys(CHANNELS)}


def test_postgres_lands_every_served_row_once_and_reruns_are_incremental(
    sandbox, postgres: Postgres, meltano: Meltano
):
    run = meltano.run(
        "run", "tap-perfreports-infinity", "target-postgres",
        env=settings(sandbox, "2026-09-01", "2026-09-30"),
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    schema = meltano.schema

    def triggers() -> list[tuple]:
        return postgres.query(f"select igrp, row_id from {schema}.infinity_triggers")  # noqa: S608

    def channels() -> list[tuple]:
        return postgres.query(
            f"select igrp, date::text, ch from {schema}.infinity_channel_metrics"  # noqa: S608
        )

    landed = triggers()
    assert len(landed) == len(set(landed)), "a primary key landed twice"
    assert set(landed) == sandbox.ledger.served_keys(TRIGGERS)
    assert len(landed) > 2000
    metrics = channels()
    assert len(metrics) == len(set(metrics))
    assert set(metrics) == channel_keys(sandbox)

    # Second run with Meltano's stored state: only the lookback (2 days) plus new days.
    sandbox.ledger.reset()
    rerun = meltano.run(
        "run", "tap-perfreports-infinity", "target-postgres",
        env=settings(sandbox, "2026-09-01", "2026-10-03"),
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.output[-3000:]
    windows = {
        (r.query["startDate"][0], r.query["endDate"][0])
        for r in sandbox.ledger.requests
        if r.path.endswith("triggers/all")
    }
    assert windows == {("2026-09-29", "2026-10-03")}
    after = triggers()
    assert len(after) == len(set(after)), "re-pulled rows were appended, not upserted"
    served_again = sandbox.ledger.served_keys(TRIGGERS)
    assert set(after) == set(landed) | served_again
    assert len(after) == len(set(landed) | served_again)

    # Re-running with nothing new changes no row count.
    counts = (len(after), len(channels()))
    again = meltano.run(
        "run", "tap-perfreports-infinity", "target-postgres",
        env=settings(sandbox, "2026-09-01", "2026-10-03"),
    )  # fmt: skip
    assert again.returncode == 0, again.output[-3000:]
    assert (len(triggers()), len(channels())) == counts


def test_duckdb_lands_every_served_row_once(sandbox, meltano: Meltano):
    """Also guards the known target-duckdb trap (duckdb >= 1.3 drops a batch's first row)."""
    run = meltano.run(
        "run", "tap-perfreports-infinity", "target-duckdb",
        env=settings(sandbox, "2026-09-01", "2026-09-10"),
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    schema = meltano.schema
    landed = meltano.duckdb(f"select igrp, row_id from {schema}.infinity_triggers")  # noqa: S608
    assert len(landed) == len(set(landed))
    assert set(landed) == sandbox.ledger.served_keys(TRIGGERS)
    metrics = meltano.duckdb(
        f"select igrp, cast(date as varchar), ch from {schema}.infinity_channel_metrics"  # noqa: S608
    )
    assert set(metrics) == channel_keys(sandbox)
    assert len(metrics) == len(channel_keys(sandbox))
