"""End to end, in one run: `.venv/bin/python -m bench.e2e [--days N] [--rounds N]`.

The figure a user waits for: rows landed in the warehouse per second. Over the same
sandbox data (an Infinity `triggers/all` backfill: both installations, `--days` days from
2026-01-01 at the sandbox's scale 50, about 4,000 rows a day) it measures

- the pipeline as shipped: `meltano run tap-perfreports-infinity target-duckdb` and
  `... target-postgres` with this project's `meltano.yml` (Meltano's own start-up
  included), and into PostgreSQL the same with the loader's tuned settings as the target
  defaults them (`--no-defaults` leaves this out);
- the parts: the tap alone to /dev/null, and each target alone fed from a file of the
  tap's output, with the config Meltano gives it;
- the peer: a dlt pipeline over the same route and rows into the same destinations
  (`bench/peer_dlt.py`, in its own virtualenv: `bench/requirements-peer.txt`), merging on
  the same primary key, tuned as dlt's docs recommend.

Every pipeline writes into a fresh DuckDB file or PostgreSQL schema (a throwaway server,
as the end-to-end tests start one) and starts with no state. Afterwards every destination
must hold exactly the tap's rows: the same distinct keys, once each, and the same values.
The sandbox runs in its own process and keeps every answer it generated: the first pass
(the tap writing the file the targets read) generates them, unmeasured. Each pipeline runs
`--rounds` times, alternated; the fastest counts. Ratios come from one run, so they hold
on a busy machine; absolute figures are printed for the record.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from bench.common import REPO, SandboxProcess, measure_tap, records_written
from bench.formats import BENCH_NOW, INFINITY_DISPLAY, INFINITY_ROUTE, day
from tap_perfreports.clock import SANDBOX_NOW_ENV
from tap_perfreports.sandbox import infinity as infinity_sandbox

if t.TYPE_CHECKING:
    from tests.e2e.conftest import Postgres

SCALE = 50
START = "2026-01-01"
#: 31 days: about 124,000 rows, a few minutes in all on 2 cores.
DAYS = 31
ROUNDS = 2
STREAM = "infinity_triggers"
EXTRACTOR = "tap-perfreports-infinity"
MELTANO = REPO / ".venv" / "bin" / "meltano"
PEER_PYTHON = REPO / ".bench-venv" / "bin" / "python"
LOADERS = REPO / ".meltano" / "loaders"
#: Where every process of the bench reads and writes its bytecode. `meltano install`
#: (uv) compiles none, and with PYTHONDONTWRITEBYTECODE set (as on CI machines) each start
#: of Meltano, the tap and a target would compile every module it imports again (several
#: seconds each on 2 busy cores), while pip compiled dlt's at install: one prefix for all,
#: filled once before measuring, puts every pipeline on the footing of a normal install.
PYCACHE = REPO / ".bench-pycache"
#: Meltano must never need the network (as in the end-to-end tests).
OFFLINE_ENV = {
    "MELTANO_HUB_URL": "http://127.0.0.1:9",
    "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
}
#: The loaders whose settings meltano.yml tunes, with those set back to the target's own
#: defaults: the "before" of every tuned setting (target-duckdb keeps its defaults).
TARGET_DEFAULTS = {
    "target-postgres": {
        "TARGET_POSTGRES_BATCH_SIZE_ROWS": "10000",
        "TARGET_POSTGRES_VALIDATE_RECORDS": "true",
        "TARGET_POSTGRES_USE_COPY": "false",
    },
}
DESTINATIONS = {"duckdb": "target-duckdb", "postgres": "target-postgres"}
#: The rows compared: key, then every value; times as epoch seconds (each warehouse types
#: them its own way), '' as NULL (target-duckdb loads through CSV, where they are one).
COLUMNS = ["igrp", "row_id", "trigger_datetime", "act", "vid", "ch", "goal",
           "src_phone_number", "ip", "host", "whois", "revenue"]  # fmt: skip
TEXT = {"act", "vid", "src_phone_number", "ip", "host", "whois"}

Row = tuple[t.Any, ...]


class Result(t.NamedTuple):
    """One measured pipeline."""

    pipeline: str
    destination: str
    #: rows landed (distinct keys), or RECORD messages written for the tap alone
    rows: int
    seconds: float
    #: who ran it: "ours", "peer" or "part" (a half of ours, measured alone)
    kind: str = "ours"
    #: None if not checked (the tap alone), else whether it landed exactly the tap's rows
    same_rows: bool | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


# --- what landed -----------------------------------------------------------------------


def select_sql(schema: str, destination: str) -> str:
    epoch = "epoch(trigger_datetime)" if destination == "duckdb" else (
        "extract(epoch from trigger_datetime)"
    )  # fmt: skip
    columns = [
        f"cast({epoch} as bigint)"
        if c == "trigger_datetime"
        else f"nullif({c}, '')"
        if c in TEXT
        else c
        for c in COLUMNS
    ]
    return f"select {', '.join(columns)} from {schema}.{STREAM}"  # noqa: S608


def canonical(row: t.Sequence[t.Any]) -> Row:
    """A landed row as the tap's record: revenue to 6 decimals (DuckDB's and PostgreSQL's
    doubles print the same number, but a decimal column would not)."""
    values = list(row)
    revenue = values[-1]
    values[-1] = None if revenue is None else round(float(revenue), 6)
    return tuple(values)


def tap_rows(messages: Path) -> list[Row]:
    """The RECORD messages of the tap's output file, as rows to compare."""
    import datetime as dt

    rows = []
    with messages.open("rb") as lines:
        for line in lines:
            message = json.loads(line)
            if message["type"] != "RECORD":
                continue
            record = message["record"]
            stamp = dt.datetime.fromisoformat(record["trigger_datetime"])
            values = [record.get(c) for c in COLUMNS]
            values[COLUMNS.index("trigger_datetime")] = int(stamp.timestamp())
            rows.append(
                canonical(
                    [
                        None if c in TEXT and v == "" else v
                        for c, v in zip(COLUMNS, values, strict=True)
                    ]
                )
            )
    return rows


def landed_duckdb(path: Path, schema: str) -> list[Row]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as db:
        return [canonical(r) for r in db.execute(select_sql(schema, "duckdb")).fetchall()]


def check(landed: list[Row], truth: set[Row], keys: set[Row]) -> tuple[int, bool]:
    """Distinct keys landed, and whether they are the tap's, once each, with its values."""
    distinct = {row[:3] for row in landed}
    return len(distinct), len(landed) == len(distinct) and distinct == keys and set(landed) == truth


# --- running the pipelines ---------------------------------------------------------------


class Bench:
    def __init__(self, folder: Path, sandbox: SandboxProcess, postgres: Postgres, days: int):
        self.folder = folder
        self.sandbox = sandbox
        self.postgres = postgres
        self.days = days
        self.runs = 0
        self.truth: set[Row] = set()
        self.keys: set[Row] = set()
        self.end = day(START, days)
        self.api_url = f"{sandbox.base}/infinity/reports/v2"

    def tap_config(self) -> dict[str, t.Any]:
        report = {"name": "triggers", "route": INFINITY_ROUTE, "display": INFINITY_DISPLAY}
        return {
            "sandbox": True,
            "start_date": START,
            "end_date": self.end,
            "infinity": {
                "api_url": self.api_url,
                "igrps": list(infinity_sandbox.INSTALLATIONS),
                "reports": [report],
            },
        }

    def fresh(self) -> tuple[str, Path]:
        """A new schema name (PostgreSQL) and DuckDB file for the next run."""
        self.runs += 1
        return f"bench_{self.runs}", self.folder / f"run{self.runs}.duckdb"

    def meltano_env(self, schema: str, duckdb_path: Path) -> dict[str, str]:
        pg = self.postgres
        tap = self.tap_config()
        return {
            **os.environ,
            **OFFLINE_ENV,
            "MELTANO_DATABASE_URI": f"sqlite:///{self.folder / f'meltano{self.runs}.db'}",
            "TAP_PERFREPORTS_START_DATE": tap["start_date"],
            "TAP_PERFREPORTS_END_DATE": tap["end_date"],
            "TAP_PERFREPORTS_INFINITY_API_URL": self.api_url,
            "TAP_PERFREPORTS_INFINITY_IGRPS": json.dumps(tap["infinity"]["igrps"]),
            "TAP_PERFREPORTS_INFINITY_REPORTS": json.dumps(tap["infinity"]["reports"]),
            "TARGET_DUCKDB_FILEPATH": str(duckdb_path),
            "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": schema,
            "TARGET_POSTGRES_HOST": pg.host,
            "TARGET_POSTGRES_PORT": str(pg.port),
            "TARGET_POSTGRES_USER": pg.user,
            "TARGET_POSTGRES_PASSWORD": "",
            "TARGET_POSTGRES_DATABASE": pg.dbname,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }

    def landed(self, destination: str, schema: str, duckdb_path: Path) -> tuple[int, bool]:
        if destination == "duckdb":
            rows = landed_duckdb(duckdb_path, schema)
            duckdb_path.unlink()
        else:
            rows = [canonical(r) for r in self.postgres.query(select_sql(schema, "postgres"))]
            self.postgres.query(f"drop schema {schema} cascade")
        return check(rows, self.truth, self.keys)

    def _timed(self, command: list[str], env: dict[str, str], **kwargs: t.Any) -> float:
        log = self.folder / "last.log"
        started = time.perf_counter()
        with log.open("wb") as errors:
            status = subprocess.run(
                command, env=env, cwd=REPO, stderr=errors, check=False, **kwargs
            ).returncode
        seconds = time.perf_counter() - started
        if status != 0:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            raise SystemExit(f"{command[:3]} failed with status {status}:\n" + "\n".join(tail))
        return seconds

    # the pipelines

    def piped(self, destination: str, messages: Path) -> Result:
        """The tap piped straight into the target, no Meltano between them."""
        loader = DESTINATIONS[destination]
        schema, duckdb_path = self.fresh()
        env = self.meltano_env(schema, duckdb_path)
        config = self.target_config(loader, env)
        executable = LOADERS / loader / "venv" / "bin" / loader
        tap_config = self.folder / "tap.json"
        log = self.folder / "piped.log"
        started = time.perf_counter()
        with log.open("wb") as errors:
            tap = subprocess.Popen(
                [sys.executable, "-m", "tap_perfreports", "--config", str(tap_config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=REPO,
            )
            target = subprocess.run(
                [str(executable), "--config", str(config)],
                stdin=tap.stdout,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=env,
                cwd=REPO,
                check=False,
            )
            assert tap.stdout is not None
            tap.stdout.close()
            status = tap.wait()
        seconds = time.perf_counter() - started
        if status or target.returncode:
            raise SystemExit(f"tap | {loader} failed ({status}, {target.returncode}): {log}")
        rows, same = self.landed(destination, schema, duckdb_path)
        name = f"tap piped into {loader}, no Meltano"
        return Result(name, destination, rows, seconds, "part", same)

    def profile(self, destination: str, messages: Path, top: int = 12) -> str:
        """The target alone under cProfile: where its time goes (functions by own time)."""
        loader = DESTINATIONS[destination]
        schema, duckdb_path = self.fresh()
        env = self.meltano_env(schema, duckdb_path)
        config = self.target_config(loader, env)
        venv = LOADERS / loader / "venv" / "bin"
        output = self.folder / f"{loader}.prof"
        with messages.open("rb") as stdin:
            self._timed(
                [str(venv / "python"), "-m", "cProfile", "-o", str(output), str(venv / loader),
                 "--config", str(config)],
                env,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        self.landed(destination, schema, duckdb_path)
        script = (
            "import pstats, sys; s = pstats.Stats(sys.argv[1]); "
            "total = s.total_tt; rows = sorted(s.stats.items(), key=lambda i: -i[1][2]); "
            "print(f'total {total:.1f} s under the profiler'); "
            "[print(f'{st[2] / total:6.1%} own {st[3] / total:6.1%} cumulative  "
            '{f[0].split("site-packages/")[-1]}:{f[1]}({f[2]})\') '
            f"for f, st in rows[:{top}]]"
        )
        return subprocess.run(
            [str(venv / "python"), "-c", script, str(output)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def first_pass(self) -> Path:
        """The tap's output, to a file (unmeasured; the sandbox generates every answer)."""
        config = self.folder / "tap.json"
        config.write_text(json.dumps(self.tap_config()))
        messages = self.folder / "messages.jsonl"
        with messages.open("wb") as out:
            self._timed(
                [sys.executable, "-m", "tap_perfreports", "--config", str(config)],
                dict(os.environ),
                stdout=out,
            )
        self.truth = set(tap_rows(messages))
        self.keys = {row[:3] for row in self.truth}
        return messages

    def tap_alone(self) -> Result:
        config = self.folder / "tap.json"
        seconds, _peak = measure_tap(config)
        rows = records_written(config.with_suffix(".log").read_text())
        return Result("tap alone → /dev/null", "", rows, seconds, "part")

    def meltano_run(self, destination: str, *, defaults: bool = False) -> Result:
        loader = DESTINATIONS[destination]
        schema, duckdb_path = self.fresh()
        env = self.meltano_env(schema, duckdb_path)
        if defaults:
            env |= TARGET_DEFAULTS[loader]
        seconds = self._timed(
            [str(MELTANO), "run", EXTRACTOR, loader], env, stdout=subprocess.DEVNULL
        )
        rows, same = self.landed(destination, schema, duckdb_path)
        name = f"meltano run … {loader}" + (" (target's defaults)" if defaults else "")
        return Result(name, destination, rows, seconds, "ours", same)

    def target_config(self, loader: str, env: dict[str, str]) -> Path:
        """The config Meltano gives the loader (`meltano invoke --dump=config`)."""
        dumped = subprocess.run(
            [str(MELTANO), "invoke", "--dump=config", loader],
            env=env,
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
        path = self.folder / f"{loader}.json"
        path.write_bytes(dumped)
        return path

    def target_alone(self, destination: str, messages: Path) -> Result:
        loader = DESTINATIONS[destination]
        schema, duckdb_path = self.fresh()
        env = self.meltano_env(schema, duckdb_path)
        config = self.target_config(loader, env)
        executable = LOADERS / loader / "venv" / "bin" / loader
        with messages.open("rb") as stdin:
            seconds = self._timed(
                [str(executable), "--config", str(config)],
                env,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
            )
        rows, same = self.landed(destination, schema, duckdb_path)
        return Result(f"{loader} alone, fed from a file", destination, rows, seconds, "part", same)

    def peer(self, destination: str) -> Result:
        schema, duckdb_path = self.fresh()
        pg = self.postgres
        data_dir = self.folder / f"dlt{self.runs}"
        data_dir.mkdir()
        spec = {
            "api_url": self.api_url,
            "username": infinity_sandbox.USERNAME,
            "password": infinity_sandbox.PASSWORD,
            "igrps": list(infinity_sandbox.INSTALLATIONS),
            "windows": windows(START, self.days),
            "destination": destination,
            "duckdb_path": str(duckdb_path),
            # trust auth: dlt insists on a password, the server ignores it
            "postgres_url": f"postgresql://{pg.user}:unused@{pg.host}:{pg.port}/{pg.dbname}",
            "schema": schema,
            "data_dir": str(data_dir),
        }
        path = data_dir / "spec.json"
        path.write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        seconds = self._timed(
            [str(PEER_PYTHON), "-m", "bench.peer_dlt", str(path)], env, stdout=subprocess.DEVNULL
        )
        rows, same = self.landed(destination, schema, duckdb_path)
        tuning = "parquet, 2 normalize workers" if destination == "duckdb" else "csv (COPY)"
        return Result(f"dlt ({tuning})", destination, rows, seconds, "peer", same)


def windows(start: str, days: int, span: int = 31) -> list[tuple[str, str]]:
    """The tap's windows: `span` days at a time from `start`, the last one shorter."""
    import datetime as dt

    first = dt.date.fromisoformat(start)
    out = []
    for offset in range(0, days, span):
        begin = first + dt.timedelta(days=offset)
        end = first + dt.timedelta(days=min(offset + span, days) - 1)
        out.append((begin.isoformat(), end.isoformat()))
    return out


# --- the table ----------------------------------------------------------------------------


def fastest(runs: t.Iterable[Result]) -> Result:
    return min(runs, key=lambda run: run.seconds)


def table(results: list[Result]) -> str:
    """The end-to-end table: each destination's pipelines, rows/s, the ratio of each of
    ours to the peer into the same destination (> 1: ours lands faster), and for the
    parts, the share of the shipped pipeline's time each would take alone."""
    lines = [
        "| pipeline → destination | rows landed | wall | rows/s | ours / dlt | same rows |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        if not result.destination:
            lines.append(
                f"| {result.pipeline} | {result.rows:,} written | {result.seconds:.1f} s "
                f"| {result.rate:,.0f}/s | | |"
            )
    for destination in dict.fromkeys(r.destination for r in results if r.destination):
        group = [r for r in results if r.destination == destination]
        peer = next((r for r in group if r.kind == "peer"), None)
        for result in group:
            ratio = ""
            if peer is not None and result.kind == "ours":
                ratio = f"**{result.rate / peer.rate:.2f}x**"
            same = {None: "", True: "yes", False: "**NO**"}[result.same_rows]
            lines.append(
                f"| {result.pipeline} → {destination} | {result.rows:,} | {result.seconds:.1f} s "
                f"| {result.rate:,.0f}/s | {ratio} | {same} |"
            )
    return "\n".join(lines)


def split(results: list[Result]) -> str:
    """Per destination, whose the time is: the shipped pipeline against the tap piped
    straight into the target (the difference is Meltano's: its start-up, the tap's
    discovery, and relaying every line), the tap alone and the target alone (each a share
    of the shipped pipeline's time; in a pipe they overlap)."""
    tap = next((r for r in results if not r.destination), None)
    lines = [
        "| destination | meltano run | tap \\| target, no Meltano | Meltano's part "
        "| tap alone | target alone |",
        "|---|---|---|---|---|---|",
    ]
    for destination in dict.fromkeys(r.destination for r in results if r.destination):
        group = {r.pipeline: r for r in results if r.destination == destination}
        shipped = next((r for n, r in group.items() if n.startswith("meltano") and
                        "defaults" not in n), None)  # fmt: skip
        piped = next((r for n, r in group.items() if "piped" in n), None)
        target = next((r for n, r in group.items() if n.endswith("fed from a file")), None)
        if shipped is None or target is None or tap is None or piped is None:
            continue
        lines.append(
            f"| {destination} | {shipped.seconds:.1f} s | {piped.seconds:.1f} s "
            f"| {shipped.seconds - piped.seconds:.1f} s "
            f"({(shipped.seconds - piped.seconds) / shipped.seconds:.0%}) "
            f"| {tap.seconds:.1f} s ({tap.seconds / shipped.seconds:.0%}) "
            f"| {target.seconds:.1f} s ({target.seconds / shipped.seconds:.0%}) |"
        )
    return "\n".join(lines)


def report(results: list[Result], days: int, rounds: int, seconds: float) -> str:
    parts = [
        f"## End to end: Infinity triggers/all, {days} days, into DuckDB and PostgreSQL\n",
        table(results),
        "\nWhose time it is (the tap alone and the target alone, against the shipped pipeline):\n",
        split(results),
        f"\n(fastest of {rounds} alternated rounds each; {math.ceil(seconds)} s in all, "
        f"on {os.cpu_count()} cores)",
    ]
    mismatched = [r for r in results if r.same_rows is False]
    if mismatched:
        names = ", ".join(f"{r.pipeline} → {r.destination}" for r in mismatched)
        parts.append(f"\n(!) not exactly the tap's rows: {names}")
    return "\n".join(parts)


def compile_bytecode() -> None:
    """Every module any pipeline may import, compiled into PYCACHE (once: later runs find
    it current). Every process the bench starts inherits the prefix."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    pythons = [Path(sys.executable), PEER_PYTHON, *LOADERS.glob("*/venv/bin/python")]
    pythons += list((REPO / ".meltano" / "extractors").glob("*/venv/bin/python"))
    for python in pythons:
        subprocess.run(
            [str(python), "-c", "import compileall, sys, sysconfig; [compileall.compile_dir("
             "p, quiet=2, workers=0) for p in {*sys.path} if p.startswith('/') "
             "and not p.endswith('.zip')]"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )  # fmt: skip


def main() -> None:
    os.environ[SANDBOX_NOW_ENV] = BENCH_NOW  # the sandbox, the taps and Meltano inherit it
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=DAYS, help="days of the backfill")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--no-defaults", action="store_true", help="skip the runs with the targets' defaults"
    )
    parser.add_argument("--only", choices=sorted(DESTINATIONS), help="one destination")
    parser.add_argument(
        "--profile", action="store_true", help="also profile each target alone (cProfile)"
    )
    args = parser.parse_args()
    if not PEER_PYTHON.exists():
        raise SystemExit(
            "The dlt peer's virtualenv is missing: python3 -m venv .bench-venv && "
            ".bench-venv/bin/pip install -r bench/requirements-peer.txt"
        )
    from tests.e2e.conftest import postgres_server

    started = time.perf_counter()
    compile_bytecode()
    destinations = [args.only] if args.only else list(DESTINATIONS)
    sandbox = SandboxProcess(SCALE, cache=True)
    try:
        with tempfile.TemporaryDirectory() as name, postgres_server() as postgres:
            bench = Bench(Path(name), sandbox, postgres, args.days)
            messages = bench.first_pass()
            measures: list[t.Callable[[], Result]] = [bench.tap_alone]
            for destination in destinations:
                measures += [
                    lambda d=destination: bench.meltano_run(d),  # type: ignore[misc]
                    lambda d=destination: bench.target_alone(d, messages),  # type: ignore[misc]
                    lambda d=destination: bench.piped(d, messages),  # type: ignore[misc]
                    lambda d=destination: bench.peer(d),  # type: ignore[misc]
                ]
                if not args.no_defaults and DESTINATIONS[destination] in TARGET_DEFAULTS:
                    measures.append(lambda d=destination: bench.meltano_run(d, defaults=True))  # type: ignore[misc]
            runs: dict[int, list[Result]] = {i: [] for i in range(len(measures))}
            for _ in range(args.rounds):
                for i, measure in enumerate(measures):
                    runs[i].append(measure())
                    print(f"  {runs[i][-1]}", file=sys.stderr)
            profiles = {d: bench.profile(d, messages) for d in destinations} if args.profile else {}
    finally:
        sandbox.close()
    results = [fastest(r) for r in runs.values()]
    print(report(results, args.days, args.rounds, time.perf_counter() - started))
    for destination, profile in profiles.items():
        print(f"\nProfile of {DESTINATIONS[destination]} alone (cProfile, top functions "
              f"by own time):\n\n```\n{profile}```")  # fmt: skip


if __name__ == "__main__":
    main()
