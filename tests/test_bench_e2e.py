"""The end-to-end bench's own arithmetic and tables (`bench/e2e.py`), on made-up figures:
no pipeline runs and no timing is asserted."""

from __future__ import annotations

import datetime as dt

from bench import e2e
from bench.e2e import Result

FAKE = [
    Result("tap alone → /dev/null", "", 1000, 1.0, "part"),
    Result("meltano run … target-duckdb", "duckdb", 1000, 4.0, "ours", True),
    Result("target-duckdb alone, fed from a file", "duckdb", 1000, 2.0, "part", True),
    Result("tap piped into target-duckdb, no Meltano", "duckdb", 1000, 2.5, "part", True),
    Result("dlt (parquet, 2 normalize workers)", "duckdb", 1000, 2.0, "peer", True),
    Result("meltano run … target-postgres", "postgres", 1000, 2.0, "ours", True),
    Result("target-postgres alone, fed from a file", "postgres", 1000, 1.5, "part", True),
    Result("tap piped into target-postgres, no Meltano", "postgres", 1000, 1.6, "part", True),
    Result("dlt (csv (COPY))", "postgres", 1000, 4.0, "peer", False),
    Result("meltano run … target-postgres (target's defaults)", "postgres", 1000, 8.0),
]


def test_the_table_prints_rates_and_ratios_to_the_peer_of_the_same_destination():
    table = e2e.table(FAKE)
    lines = table.splitlines()
    assert lines[0].startswith("| pipeline → destination |")
    assert len(lines) == 2 + len(FAKE)
    row = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert "1,000 written" in row["tap alone → /dev/null"]
    # 1000 rows in 4 s against the peer's 2 s: half its rate
    assert "**0.50x**" in row["meltano run … target-duckdb → duckdb"]
    assert "250/s" in row["meltano run … target-duckdb → duckdb"]
    assert "**2.00x**" in row["meltano run … target-postgres → postgres"]
    assert "**0.50x**" in row["meltano run … target-postgres (target's defaults) → postgres"]
    # parts and the peer carry no ratio; a pipeline that landed other rows is flagged
    assert "x**" not in row["target-duckdb alone, fed from a file → duckdb"]
    assert "**NO**" in row["dlt (csv (COPY)) → postgres"]


def test_the_split_says_whose_time_it_is():
    lines = e2e.split(FAKE).splitlines()
    assert len(lines) == 4
    duckdb = lines[2].split(" | ")
    assert duckdb[0] == "| duckdb"
    assert duckdb[1:4] == ["4.0 s", "2.5 s", "1.5 s (38%)"]
    assert duckdb[4:] == ["1.0 s (25%)", "2.0 s (50%) |"]


def test_the_report_flags_a_destination_that_landed_other_rows():
    report = e2e.report(FAKE, days=3, rounds=2, seconds=12.3)
    assert "3 days" in report
    assert "fastest of 2" in report
    assert "(!) not exactly the tap's rows: dlt (csv (COPY)) → postgres" in report
    assert "(!)" not in e2e.report(FAKE[:8], days=3, rounds=2, seconds=1)


def test_rows_are_compared_by_key_and_value():
    truth = {(1, 10, 100, "a", None, 1.5), (1, 11, 100, None, "b", None)}
    keys = {row[:3] for row in truth}
    assert e2e.check(list(truth), truth, keys) == (2, True)
    # a duplicate, a lost row, a changed value
    assert e2e.check([*truth, next(iter(truth))], truth, keys) == (2, False)
    assert e2e.check([next(iter(truth))], truth, keys) == (1, False)
    changed = [(1, 10, 100, "a", None, 1.6), (1, 11, 100, None, "b", None)]
    assert e2e.check(changed, truth, keys) == (2, False)
    assert e2e.canonical([1, 2, 3, 0.1 + 0.2]) == (1, 2, 3, 0.3)


def test_the_peer_requests_the_taps_windows():
    assert e2e.windows("2026-01-01", 31) == [("2026-01-01", "2026-01-31")]
    windows = e2e.windows("2026-01-01", 40)
    assert windows == [("2026-01-01", "2026-01-31"), ("2026-02-01", "2026-02-09")]
    last = dt.date.fromisoformat(windows[-1][1])
    assert last == dt.date(2026, 1, 1) + dt.timedelta(days=39)


def test_the_tap_rows_match_the_warehouse_form(tmp_path):
    messages = tmp_path / "messages.jsonl"
    messages.write_text(
        '{"type":"SCHEMA","stream":"infinity_triggers","schema":{},"key_properties":[]}\n'
        '{"type":"RECORD","stream":"infinity_triggers","record":{"igrp":1001,"row_id":7,'
        '"trigger_datetime":"2026-01-01T00:00:56+00:00","act":"goal","vid":"v","ch":1,'
        '"goal":null,"src_phone_number":"","ip":"i","host":"h","whois":"w","revenue":72.5}}\n'
    )
    (row,) = e2e.tap_rows(messages)
    epoch = int(dt.datetime(2026, 1, 1, 0, 0, 56, tzinfo=dt.UTC).timestamp())
    assert row == (1001, 7, epoch, "goal", "v", 1, None, None, "i", "h", "w", 72.5)
    assert "epoch(trigger_datetime)" in e2e.select_sql("s", "duckdb")
    assert "extract(epoch from trigger_datetime)" in e2e.select_sql("s", "postgres")
