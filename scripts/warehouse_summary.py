"""Print the rows per table of the DuckDB warehouse: the quick start's last word."""

from __future__ import annotations

import sys

import duckdb


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "output/warehouse.duckdb"
    connection = duckdb.connect(path, read_only=True)
    tables = connection.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('information_schema', 'pg_catalog') order by 1, 2"
    ).fetchall()
    print(f"\nWhat landed in {path}:")
    for schema, table in tables:
        (rows,) = connection.execute(f'select count(*) from "{schema}"."{table}"').fetchone()  # noqa: S608
        print(f"  {schema}.{table:32} {rows:>10,} rows")


if __name__ == "__main__":
    main()
