"""The quick start's last word: what landed in the DuckDB warehouse, and each vendor's last
7 days from the dbt model perfreports_daily.

    python scripts/warehouse_summary.py [output/warehouse.duckdb] [--schema analytics]
"""

from __future__ import annotations

import argparse
import contextlib
import typing as t

import duckdb

#: perfreports_daily's shared measures, in the order the table prints them.
MEASURES = ("impressions", "clicks", "conversions", "calls", "revenue", "spend")
#: Money has cents; counts do not.
MONEY = {"revenue", "spend"}


def landed_tables(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(schema, table, rows) of every table (not view) in the file."""
    tables = connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' "
        "and table_schema not in ('information_schema', 'pg_catalog') order by 1, 2"
    ).fetchall()
    found = []
    for schema, table in tables:
        [(rows,)] = connection.execute(f'select count(*) from "{schema}"."{table}"').fetchall()  # noqa: S608
        found.append((schema, table, int(rows)))
    return found


def last_days(
    connection: duckdb.DuckDBPyConnection, schema: str, days: int = 7
) -> list[dict[str, t.Any]]:
    """Per vendor, the sums of each measure over its latest `days` days.

    A measure the vendor does not have stays None (perfreports_daily's null), not 0.
    Counts are added over currencies; money is kept per currency ({currency: amount})."""
    sums = ", ".join(f"sum({m}) as {m}" for m in MEASURES)
    rows = connection.execute(
        f"""
        with daily as (select * from "{schema}".perfreports_daily),
        latest as (select vendor, max(report_date) as last_day from daily group by vendor)
        select vendor, currency, min(report_date) as first_day, max(report_date) as last_day,
            {sums}
        from daily join latest using (vendor)
        where report_date > latest.last_day - {int(days)}
        group by vendor, currency
        order by vendor, currency nulls first
        """  # noqa: S608 - the schema is the caller's, the rest is ours
    )
    columns = [d[0] for d in rows.description or ()]
    vendors: dict[str, dict[str, t.Any]] = {}
    for values in rows.fetchall():
        row = dict(zip(columns, values, strict=True))
        vendor = vendors.setdefault(
            row["vendor"],
            {"vendor": row["vendor"], "first_day": row["first_day"], "last_day": row["last_day"]}
            | dict.fromkeys(MEASURES),
        )
        vendor["first_day"] = min(vendor["first_day"], row["first_day"])
        vendor["last_day"] = max(vendor["last_day"], row["last_day"])
        for measure in MEASURES:
            if row[measure] is None:
                continue
            if measure in MONEY:
                vendor[measure] = (vendor[measure] or {}) | {row["currency"]: row[measure]}
            else:
                vendor[measure] = (vendor[measure] or 0) + row[measure]
    return list(vendors.values())


def number(value: t.Any, measure: str) -> str:
    """A table cell: '-' for no such measure, money with cents and its currency if known."""
    if value is None:
        return "-"
    if measure in MONEY:
        return " + ".join(
            f"{float(amount):,.2f}" + (f" {currency}" if currency else "")
            for currency, amount in sorted(value.items(), key=lambda item: str(item[0]))
        )
    return f"{int(value):,}"


def table(rows: list[dict[str, t.Any]]) -> str:
    header = ["vendor", "days", *MEASURES]
    lines = [
        [
            row["vendor"],
            f"{row['first_day']}..{row['last_day']}",
            *(number(row[m], m) for m in MEASURES),
        ]
        for row in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    out = []
    for line in [header, *lines]:
        cells = [
            str(cell).ljust(width) if index in (0, 1) else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  " + "  ".join(cells).rstrip())
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="output/warehouse.duckdb")
    parser.add_argument("--schema", default="analytics", help="the dbt models' schema")
    args = parser.parse_args()
    with contextlib.closing(duckdb.connect(args.path, read_only=True)) as connection:
        print(f"\nWhat landed in {args.path}:")
        for schema, name, rows in landed_tables(connection):
            print(f"  {schema}.{name:32} {rows:>10,} rows")
        print(
            f"\nLast 7 days per vendor ({args.schema}.perfreports_daily; "
            "'-': the vendor has no such measure):"
        )
        print(table(last_days(connection, args.schema)))


if __name__ == "__main__":
    main()
