"""fakesnow in place of Snowflake, for MeltanoLabs target-snowflake, with the adaptations
its file-stage load needs. Runs inside target-snowflake's process (see activate.pth)
and inside query.py, never in the test's own interpreter.

target-snowflake's DDL, type mapping, casts (`$1:col::TYPE`) and MERGE run on fakesnow
as the target writes them. fakesnow 0.12.1 lacks five things the target's load path uses;
each adaptation below is named ADAPTATION n and does the least that lets the target's own
statement run (the sixth is a fakesnow limit behind the fourth):

1. PUT to the user stage `@~` (fakesnow knows only named stages): the harness copies the
   file into a folder standing for the user stage.
2. REMOVE of staged files (not parsed by fakesnow): the harness deletes that folder.
3. DROP FILE FORMAT (not parsed by fakesnow): a no-op; fakesnow keeps no file formats
   that matter here (CREATE FILE FORMAT is its own, unchanged).
4. MERGE ... USING (SELECT $1:col::TYPE ... FROM '@~/path'(file_format => ...)
   QUALIFY ROW_NUMBER() OVER (PARTITION BY keys ORDER BY SEQ8() DESC) = 1): fakesnow
   reads neither a stage as a table source, nor `$1` outside COPY INTO, nor SEQ8() in a
   window, and DuckDB binds QUALIFY's names to the MERGE target's columns rather than to
   the select list's aliases. The harness loads the staged JSON lines into a temporary
   table (one VARIANT column, plus each line's position) and rewrites only the source:
   `FROM '@~/...'(...)` becomes that table, `$1` its VARIANT column, SEQ8() the line's
   position (the target counts on SEQ8() following the file's order, so that the last
   line of a key wins; the harness gives exactly that order), and the casts move into an
   inner select that QUALIFY filters. The casts,
   the QUALIFY dedup and the MERGE itself are the target's, run by fakesnow.
5. Parallel use: the target loads streams from several threads, each with its own
   connection, and fakesnow's connections share one DuckDB database whose MERGE is several
   statements through one work table name (MERGE_CANDIDATES): two streams merging at once
   collide on it (without the lock, two of three all-vendor loads failed with a duplicate
   key on it). The harness runs one statement at a time (a process-wide lock).
6. A MERGE with no current schema: fakesnow stages a MERGE's candidate rows in an
   unqualified table, so it needs one, and the target's session has only a database. The
   harness makes the MERGE target's schema current first (USE SCHEMA).

What this does not cover: Snowflake's stage engine (PUT's upload and compression, the file
format's JSON parsing, REMOVE), its transactions under concurrency, and its SQL engine:
types and casts are fakesnow's translation of Snowflake's onto DuckDB.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import shutil
import sys
import threading
import typing as t
from pathlib import Path
from urllib.parse import unquote, urlparse

REPO = Path(__file__).resolve().parents[3]
#: Where `make install` puts fakesnow and its duckdb and sqlglot (requirements.txt).
LIBS = Path(os.environ.get("PERFREPORTS_FAKESNOW_LIBS", REPO / ".meltano" / "fakesnow"))

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_PUT = re.compile(r"^\s*put\s+(?P<file>\S+)\s+'@~/(?P<path>[^']+?)/?'\s*;?\s*$", re.I | re.S)
_REMOVE = re.compile(r"^\s*remove\s+'@~/(?P<path>[^']+?)/?'\s*;?\s*$", re.I | re.S)
_DROP_FILE_FORMAT = re.compile(r"^\s*drop\s+file\s+format\b", re.I)
_MERGE = re.compile(r'^\s*merge\s+into\s+(?P<schema>(?:"[^"]+"|\w+)\.(?:"[^"]+"|\w+))\.', re.I)
#: target-snowflake's MERGE source: `using (select <casts> from '@~/<path>'(file_format =>
#: <name>) qualify <dedup>) <alias> on`.
_STAGE_SOURCE = re.compile(
    r"\busing\s*\(\s*select\s+(?P<casts>.*?)\s+from\s+'@~/(?P<path>[^']+?)/?'\s*"
    r"\(\s*file_format\s*=>\s*[^)]*\)\s*(?P<qualify>qualify\s.*?)\)\s*(?P<alias>\w+)\s+on\s",
    re.I | re.S,
)
_DOLLAR_ONE = re.compile(r"\$1(?=\s*:)")
_SEQ8 = re.compile(r"\bseq8\s*\(\s*\)", re.I)

STAGE_ROW = "_stage_row"
STAGE_SEQ = "_stage_seq"
_LOCK = threading.RLock()
_NAMES = itertools.count()
_PATCHES: list[t.Any] = []


def user_stage(db_path: str | Path) -> Path:
    """The folder standing for the user stage `@~` (ADAPTATION 1)."""
    return Path(db_path) / "user_stage"


def _bind(text: str, params: t.Any) -> str:
    """A PUT's file argument: target-snowflake binds it (`put %(file_uri)s ...`)."""
    match = _PLACEHOLDER.fullmatch(text)
    if match and isinstance(params, dict):
        return str(params[match.group(1)])
    return text.strip("'")


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path if parsed.scheme == "file" else uri))


def _staged_lines(folder: Path) -> list[str]:
    """Every JSON line staged under `folder`, files in name order, lines in file order."""
    lines: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        opener: t.Callable[..., t.IO[str]] = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            lines.extend(line for line in handle if line.strip())
    return lines


def install(db_path: str | Path) -> None:
    """Patch the Snowflake connector with fakesnow, its databases as files in `db_path`."""
    sys.path.append(str(LIBS))  # after the target's own packages: those win
    import fakesnow
    import pyarrow as pa
    from fakesnow.cursor import FakeSnowflakeCursor

    stage = user_stage(db_path)
    original = FakeSnowflakeCursor.execute

    def execute(self: t.Any, command: str, params: t.Any = None, *args: t.Any, **kwargs: t.Any):
        with _LOCK:  # ADAPTATION 5: one statement at a time over fakesnow's one database
            if put := _PUT.match(command):  # ADAPTATION 1
                source = _local_path(_bind(put.group("file"), params))
                folder = stage / put.group("path")
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, folder / source.name)
                return original(self, f"select '{source.name}' as source, 'UPLOADED' as status")
            if remove := _REMOVE.match(command):  # ADAPTATION 2
                shutil.rmtree(stage / remove.group("path"), ignore_errors=True)
                return original(self, "select 1 as removed where false")
            if _DROP_FILE_FORMAT.match(command):  # ADAPTATION 3
                return original(self, "select 'dropped' as status")
            if _MERGE.match(command) and (source := _STAGE_SOURCE.search(command)):
                return merge_from_stage(self, command, params, source, *args, **kwargs)
            return original(self, command, params, *args, **kwargs)

    def merge_from_stage(
        self: t.Any, command: str, params: t.Any, source: re.Match, *args: t.Any, **kwargs: t.Any
    ):
        """ADAPTATION 4: the staged lines as a temporary table; only the source rewritten."""
        lines = _staged_lines(stage / source.group("path"))
        table = f"_fs_harness_stage_{next(_NAMES)}"
        rows = pa.table({STAGE_SEQ: list(range(len(lines))), "line": lines})
        duck = self._duck_conn
        duck.register("_fs_harness_lines", rows)
        try:
            duck.execute(
                f"create temp table {table} as select {STAGE_SEQ}, "  # noqa: S608
                f"line::JSON as {STAGE_ROW} from _fs_harness_lines"
            )
        finally:
            duck.unregister("_fs_harness_lines")
        casts = _DOLLAR_ONE.sub(STAGE_ROW, source.group("casts"))
        qualify = _SEQ8.sub(STAGE_SEQ, source.group("qualify"))
        # DuckDB binds the names in QUALIFY to the MERGE target's columns (a lateral
        # reference it then refuses), where Snowflake binds them to the select list's
        # aliases: the casts go in an inner select, so QUALIFY sees them as its columns.
        using = (
            f"using (select * exclude ({STAGE_SEQ}) from (select {casts}, {STAGE_SEQ} "  # noqa: S608
            f"from temp.main.{table}) {qualify}) {source.group('alias')} on "
        )
        rewritten = command[: source.start()] + using + command[source.end() :]
        # ADAPTATION 6: fakesnow runs a MERGE through an unqualified work table, which
        # needs a current schema; the target's session has only a database (its MERGE
        # names the table in full), so the harness makes the table's schema current.
        schema = _MERGE.match(command)
        assert schema is not None
        original(self, f"use schema {schema.group('schema')}")
        try:
            return original(self, rewritten, params, *args, **kwargs)
        finally:
            duck.execute(f"drop table if exists temp.main.{table}")

    FakeSnowflakeCursor.execute = execute
    # Kept for the life of the process: a dropped context manager would undo the patch.
    _PATCHES.append(fakesnow.patch(db_path=str(db_path)))
    _PATCHES[-1].__enter__()
