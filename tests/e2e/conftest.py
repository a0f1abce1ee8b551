"""End-to-end fixtures: a throwaway PostgreSQL cluster, and real `meltano run`s.

Meltano runs in the repository's own project (plugins installed by `make test`), with a
fresh system database per test so each test starts without state, its own DuckDB file
and PostgreSQL schema, and tap settings passed as environment variables, as a user would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from tests.helpers import REPO, assert_no_secret, known_secrets


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is not installed (.ci/run installs it)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    dbname: str

    def query(self, sql: str, *params: t.Any) -> list[tuple]:
        with (
            contextlib.closing(
                psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.dbname)
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
            return cursor.fetchall()


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[Postgres]:
    """A PostgreSQL server on a loopback port, run as the `postgres` OS user when root."""
    folder = Path(tempfile.mkdtemp(prefix="perfreports-pg-"))
    data = folder / "data"
    as_root = os.geteuid() == 0
    if as_root:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    port = _free_port()
    subprocess.run(
        [*prefix, _pg_tool("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, _pg_tool("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
         "-w", "start"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        server = Postgres("127.0.0.1", port, "postgres", "postgres")
        server.query("select 1")
        yield server
    finally:
        subprocess.run(
            [*prefix, _pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class MeltanoRun:
    returncode: int
    output: str


class Meltano:
    """`meltano` in the repository's project, isolated per test by environment variables."""

    def __init__(self, folder: Path, postgres: Postgres | None) -> None:
        self.folder = folder
        self.schema = f"e2e_{folder.name.lower().replace('-', '_')}"
        self.duckdb_path = folder / "warehouse.duckdb"
        self.env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
            "MELTANO_HUB_URL": "http://127.0.0.1:9",  # proves no Hub is needed
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "TARGET_DUCKDB_FILEPATH": str(self.duckdb_path),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": self.schema,
        }
        if postgres is not None:
            self.env |= {
                "TARGET_POSTGRES_HOST": postgres.host,
                "TARGET_POSTGRES_PORT": str(postgres.port),
                "TARGET_POSTGRES_USER": postgres.user,
                "TARGET_POSTGRES_PASSWORD": "",
                "TARGET_POSTGRES_DATABASE": postgres.dbname,
                "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": self.schema,
            }

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> MeltanoRun:
        done = subprocess.run(
            [str(REPO / ".venv" / "bin" / "meltano"), *args],
            cwd=REPO,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        assert_no_secret(output, known_secrets())
        return MeltanoRun(done.returncode, output)

    def duckdb(self, sql: str) -> list[tuple]:
        import duckdb

        with contextlib.closing(duckdb.connect(str(self.duckdb_path), read_only=True)) as db:
            return db.execute(sql).fetchall()


@pytest.fixture
def meltano(tmp_path: Path, request: pytest.FixtureRequest) -> Meltano:
    """A Meltano with no state, its own DuckDB file and (if used) PostgreSQL schema."""
    server = request.getfixturevalue("postgres") if "postgres" in request.fixturenames else None
    return Meltano(tmp_path, server)
