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
