"""End-to-end fixtures: a throwaway PostgreSQL cluster, and real `meltano run`s.

Meltano runs in the repository's own project: its plugins are installed once per test
session (`meltano_project`), and each test gets a fresh system database (so no state), its
own DuckDB file and PostgreSQL schema (`meltano`). Tap settings are passed as environment
variables, as a user would. Every Meltano process gets an unroutable Hub URL, which proves
the project never needs Meltano Hub. Usage:

    def test_x(sandbox, postgres: Postgres, meltano: Meltano):
        run = meltano.run("run", "tap-perfreports-infinity", "target-postgres", env={...})
        assert run.returncode == 0, run.output[-3000:]
        postgres.query(f"select count(*) from {meltano.schema}.infinity_triggers")
        meltano.duckdb(f"select count(*) from {meltano.schema}.infinity_triggers")
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

MELTANO = REPO / ".venv" / "bin" / "meltano"
#: The executables `meltano install` puts in .meltano/ for this project's plugins.
PLUGIN_EXECUTABLES = (
    "extractors/tap-perfreports/venv/bin/tap-perfreports",
    "loaders/target-duckdb/venv/bin/target-duckdb",
    "loaders/target-postgres/venv/bin/target-postgres",
)
#: Meltano must never need the network: no Hub, no usage stats, no version check.
OFFLINE_ENV = {
    "MELTANO_HUB_URL": "http://127.0.0.1:9",
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
}


def duckdb_query(path: str | Path, sql: str) -> list[tuple]:
    """Rows of `sql` on the DuckDB file at `path`, opened read-only (no lock left behind)."""
    import duckdb

    with contextlib.closing(duckdb.connect(str(path), read_only=True)) as db:
        return db.execute(sql).fetchall()


# --- PostgreSQL ---------------------------------------------------------------------------


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


def _postgres_os_user() -> pwd.struct_passwd:
    """PostgreSQL refuses to run as root: run it as `postgres`, creating that user if need be."""
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             "postgres"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return pwd.getpwnam("postgres")


@dataclass
class Postgres:
    """Connection details of the throwaway server, and a one-shot query helper."""

    host: str
    port: int
    user: str
    dbname: str

    def query(self, sql: str, *params: t.Any) -> list[tuple]:
        """Rows of `sql` (with %s `params`), on a new connection in autocommit."""
        with contextlib.closing(
            psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.dbname)
        ) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []


@contextlib.contextmanager
def postgres_server() -> t.Iterator[Postgres]:
    """A PostgreSQL cluster on a free 127.0.0.1 port with trust auth, deleted afterwards,
    with a database `perfreports` (also `python -m bench.e2e`'s server).

    initdb writes into a temporary folder (also the unix-socket folder); as root, the cluster
    belongs to and runs as the `postgres` OS user.
    """
    folder = Path(tempfile.mkdtemp(prefix="perfreports-pg-"))
    data = folder / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        owner = _postgres_os_user()
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*prefix, _pg_tool("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        cwd=folder,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, _pg_tool("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
         "-w", "start"],
        check=True,
        capture_output=True,
        cwd=folder,
    )  # fmt: skip
    try:
        admin = Postgres("127.0.0.1", port, "postgres", "postgres")
        admin.query("create database perfreports")
        yield Postgres("127.0.0.1", port, "postgres", "perfreports")
    finally:
        subprocess.run(
            [*prefix, _pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            cwd=folder,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> t.Iterator[Postgres]:
    """The session's PostgreSQL server (`postgres_server`). Tests share the server (and the
    database `perfreports`) and isolate themselves by schema: see `Meltano.schema`."""
    with postgres_server() as server:
        yield server


# --- Meltano ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def meltano_project() -> Path:
    """The Meltano project (the repository), with its plugins installed once per session.

    `make test` has already run `meltano install`; this only installs when a plugin is
    missing (e.g. `pytest tests/e2e` on a fresh clone), and so never reinstalls the plugins
    under a `meltano run` another session may have going.
    """
    plugins = REPO / ".meltano"
    if not all((plugins / exe).exists() for exe in PLUGIN_EXECUTABLES):
        done = subprocess.run(
            [str(MELTANO), "install"],
            cwd=REPO,
            env={**os.environ, **OFFLINE_ENV},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return REPO


@dataclass
class MeltanoRun:
    """One finished `meltano` process. `output` is stdout then stderr (Meltano logs there)."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Meltano:
    """`meltano` in the project, isolated per test by environment variables."""

    def __init__(self, project: Path, folder: Path, postgres: Postgres | None) -> None:
        self.project = project
        self.folder = folder
        #: Schema the targets write to, in PostgreSQL and in DuckDB: unique per test.
        self.schema = f"e2e_{folder.name.lower().replace('-', '_')}"
        self.duckdb_path = folder / "warehouse.duckdb"
        self.env = {
            **os.environ,
            **OFFLINE_ENV,
            "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",  # state per test
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
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 600,
        stdin: str | None = None,
    ) -> MeltanoRun:
        """`meltano *args` (e.g. "run", "tap-perfreports-infinity", "target-duckdb").

        `env` adds to the test's environment (tap settings such as
        TAP_PERFREPORTS_INFINITY_API_URL); `stdin` is its input (`meltano invoke` of a
        target). Fails the test if a known credential is printed.
        """
        done = subprocess.run(
            [str(MELTANO), *args],
            cwd=self.project,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        run = MeltanoRun(done.returncode, done.stdout, done.stderr)
        assert_no_secret(run.output, known_secrets())
        return run

    def duckdb(self, sql: str) -> list[tuple]:
        """Rows of `sql` on this test's DuckDB file."""
        return duckdb_query(self.duckdb_path, sql)


@pytest.fixture
def meltano(meltano_project: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Meltano:
    """A Meltano with no state, its own DuckDB file and, if the test uses `postgres`, schema."""
    server = request.getfixturevalue("postgres") if "postgres" in request.fixturenames else None
    return Meltano(meltano_project, tmp_path, server)
