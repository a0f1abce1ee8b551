"""What landed in a warehouse, judged value by value against the truth.

The truth is a tap run's records (a fresh, full extraction after the sandbox last changed
its data). A warehouse row whose key is missing is *lost*, a key landed more than once is
*duplicated*, and a landed value that differs from the truth is *stale*: the case a
key-only comparison cannot see (a restated value that never arrived).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from tests.vendor_cases import canonical, canonical_record

if t.TYPE_CHECKING:
    from tests.helpers import TapRun

#: Runs `sql` and returns its rows (PostgreSQL's or DuckDB's query helper).
Query = t.Callable[[str], list[tuple]]


@dataclass
class StreamTruth:
    keys: list[str]
    columns: list[str]
    #: Canonical records by primary key.
    rows: dict[tuple, dict[str, t.Any]]


def truth_of(run: TapRun) -> dict[str, StreamTruth]:
    """Each stream's records by key, from a complete run that landed every key once."""
    assert run.returncode == 0, run.stderr[-2000:]
    truth: dict[str, StreamTruth] = {}
    for message in run.messages:
        if message["type"] == "SCHEMA":
            columns = list(message["schema"]["properties"])
            truth[message["stream"]] = StreamTruth(message["key_properties"], columns, {})
        elif message["type"] == "RECORD":
            stream = truth[message["stream"]]
            record = canonical_record(message["record"])
            key = tuple(record[k] for k in stream.keys)
            assert key not in stream.rows, f"{message['stream']}: the truth has {key} twice"
            stream.rows[key] = record
    # Verdicts judge the windows a run extracted: a resumed, restated or later run checks
    # other windows (other CityGrid presets, other Mintegral jobs) than a fresh reference
    # run, so they are no data a fresh extraction reproduces (tests/test_reconciliation.py).
    return {
        name: stream
        for name, stream in truth.items()
        if stream.rows and name != "perfreports_reconciliation"
    }


@dataclass
class Judgement:
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    stale: int = 0
    #: A few of the differences, for the failure message.
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.lost, self.duplicated, self.stale) == (0, 0, 0)


def judge(
    truth: t.Mapping[str, StreamTruth], query: Query, schema: str, *, empty_is_null: bool = False
) -> Judgement:
    """Compare every landed row of every truth stream with the truth, column by column.

    `empty_is_null`: target-duckdb loads through CSV files, where an empty string and NULL
    are one thing; it lands '' as NULL, and for it the two count as equal.
    """
    listed = f"select table_name from information_schema.tables where table_schema = '{schema}'"  # noqa: S608
    tables = {name for (name,) in query(listed)}
    verdict = Judgement()
    for name, stream in truth.items():
        verdict.expected += len(stream.rows)
        landed: list[dict[str, t.Any]] = []
        if name in tables:
            columns = ", ".join(f'"{column}"' for column in stream.columns)
            rows = query(f"select {columns} from {schema}.{name}")  # noqa: S608
            landed = [
                {c: canonical(v) for c, v in zip(stream.columns, row, strict=True)} for row in rows
            ]
        seen: set[tuple] = set()
        for row in landed:
            key = tuple(row[k] for k in stream.keys)
            if key in seen:
                verdict.duplicated += 1
                continue
            seen.add(key)
            expected = stream.rows.get(key)
            if expected is not None and empty_is_null:
                expected = _empty_as_null(expected)
            if expected is None:
                verdict.stale += 1
                verdict.examples.append(f"{name} {key}: landed but not in the truth")
            elif row != expected:
                verdict.stale += 1
                differing = {c: (row[c], expected[c]) for c in row if row[c] != expected[c]}
                verdict.examples.append(f"{name} {key}: landed, truth: {differing}")
        missing = set(stream.rows) - seen
        verdict.lost += len(missing)
        verdict.examples.extend(f"{name} {key}: lost" for key in sorted(missing)[:3])
    verdict.examples = verdict.examples[:10]
    return verdict


def _empty_as_null(row: dict[str, t.Any]) -> dict[str, t.Any]:
    return {column: None if value == "" else value for column, value in row.items()}
