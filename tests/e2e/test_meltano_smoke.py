"""The end-to-end harness itself works: Meltano sees the tap's settings, PostgreSQL answers."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Meltano, Postgres, duckdb_query

pytestmark = pytest.mark.e2e


def test_meltano_invokes_the_installed_tap(meltano: Meltano):
    run = meltano.run("invoke", "tap-perfreports", "--about", "--format", "json")
    assert run.returncode == 0, run.output[-3000:]
    settings = json.loads(run.stdout)["settings"]["properties"]
    assert {"username", "password"} <= set(settings["infinity"]["properties"])
    assert settings["infinity"]["properties"]["password"].get("secret") is True


def test_meltano_passes_dotted_settings_from_the_environment(meltano: Meltano):
    """TAP_PERFREPORTS_INFINITY_IGRPS reaches the tap as {"infinity": {"igrps": ...}}."""
    run = meltano.run(
        "invoke", "--dump=config", "tap-perfreports-infinity",
        env={"TAP_PERFREPORTS_INFINITY_IGRPS": "[7, 8]"},
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    config = json.loads(run.stdout)
    assert config["sandbox"] is True  # the dev environment
    assert config["infinity"]["igrps"] == [7, 8]


def test_postgres_answers_on_loopback(postgres: Postgres):
    assert postgres.host == "127.0.0.1"
    assert postgres.query("select 1") == [(1,)]
    assert postgres.query("select current_database()") == [(postgres.dbname,)]


def test_duckdb_query_reads_a_file(tmp_path):
    import duckdb

    path = tmp_path / "x.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("create table t as select * from range(3)")
    assert duckdb_query(path, "select count(*) from t") == [(3,)]


def test_every_vendor_job_runs_in_dev_with_nothing_set(meltano: Meltano):
    """Found by a new user: the per-vendor extractors inherited `sandbox: true` but not
    the dev environment's empty vendor objects, so each job had no vendor (which fails,
    rightly, since a run that extracts nothing must not look like success). Each one
    names its own vendor."""
    jobs = [
        "tap-perfreports-infinity", "tap-perfreports-plumvoice", "tap-perfreports-adobe-target",
        "tap-perfreports-citygrid", "tap-perfreports-mintegral",
    ]  # fmt: skip
    for job in jobs:
        dumped = meltano.run("invoke", "--dump=config", job)
        assert dumped.returncode == 0, dumped.output[-3000:]
        config = json.loads(dumped.stdout)
        vendors = [key for key, value in config.items() if isinstance(value, dict)]
        assert vendors == [job.removeprefix("tap-perfreports-").replace("-", "_")], config
    run = meltano.run("run", "tap-perfreports-plumvoice", "target-duckdb")
    assert run.returncode == 0, run.output[-3000:]
    table = f"{meltano.schema}.plumvoice_performance"
    (rows,) = meltano.duckdb(f"select count(*) from {table}")[0]  # noqa: S608
    assert rows > 0
