"""Draw the last 30 days of perfreports_daily: one panel per vendor and measure.

A row per vendor, a column per shared measure; a panel is left empty where the vendor has
no such measure (the model's null). Counts are added over currencies; money (revenue,
spend) has a line per currency, as Mintegral's spend in USD and in CNY.

    python scripts/plot_perfreports_daily.py [output/warehouse.duckdb]
        [--schema analytics] [--out output/perfreports_daily.png] [--days 30]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from collections import defaultdict
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

MEASURES = ("impressions", "clicks", "conversions", "calls", "revenue", "spend")
MONEY = {"revenue", "spend"}
VENDORS = ("infinity", "plumvoice", "adobe_target", "citygrid", "mintegral")
TITLES = {
    "infinity": "Infinity",
    "plumvoice": "Plum Voice",
    "adobe_target": "Adobe Target",
    "citygrid": "CityGrid",
    "mintegral": "Mintegral",
}

#: (vendor, measure, currency) -> [(day, value)]
Series = dict[tuple[str, str, str | None], list[tuple[dt.date, float]]]


def daily_series(path: str, schema: str, days: int) -> tuple[Series, dt.date | None]:
    """Each vendor's daily totals per measure and currency, over the `days` days that end
    on the latest day any vendor has. Days on which a measure is null are left out."""
    sums = ", ".join(f"sum({m}) as {m}" for m in MEASURES)
    with contextlib.closing(duckdb.connect(path, read_only=True)) as connection:
        [(last,)] = connection.execute(
            f'select max(report_date) from "{schema}".perfreports_daily'  # noqa: S608
        ).fetchall()
        if last is None:
            return {}, None
        rows = connection.execute(
            f"""
            select report_date, vendor, currency, {sums}
            from "{schema}".perfreports_daily
            where report_date > ?
            group by report_date, vendor, currency
            order by report_date
            """,  # noqa: S608 - the schema is the caller's, the rest is ours
            [last - dt.timedelta(days=days)],
        ).fetchall()
    totals: dict[tuple[str, str, str | None], dict[dt.date, float]] = defaultdict(dict)
    for day, vendor, currency, *values in rows:
        for measure, value in zip(MEASURES, values, strict=True):
            if value is not None:
                points = totals[(vendor, measure, currency if measure in MONEY else None)]
                points[day] = points.get(day, 0.0) + float(value)
    series = {key: sorted(points.items()) for key, points in totals.items()}
    return series, last


def draw(series: Series, last: dt.date, days: int, out: Path) -> None:
    vendors = [v for v in VENDORS if any(key[0] == v for key in series)]
    vendors += sorted({key[0] for key in series} - set(vendors))
    figure, axes = plt.subplots(
        len(vendors),
        len(MEASURES),
        figsize=(3.1 * len(MEASURES), 2.1 * len(vendors) + 0.8),
        sharex=True,
        squeeze=False,
    )
    first = last - dt.timedelta(days=days - 1)
    for row, vendor in enumerate(vendors):
        for column, measure in enumerate(MEASURES):
            axis = axes[row][column]
            lines = {key: points for key, points in series.items() if key[:2] == (vendor, measure)}
            if row == 0:
                axis.set_title(measure, fontsize=11, fontweight="bold")
            if column == 0:
                axis.set_ylabel(TITLES.get(vendor, vendor), fontsize=11, fontweight="bold")
            if not lines:
                axis.set_facecolor("#f4f4f4")
                axis.set_yticks([])
                axis.text(
                    0.5, 0.5, "no such measure", ha="center", va="center",
                    transform=axis.transAxes, color="#999999", fontsize=9,
                )  # fmt: skip
                continue
            for (_, _, currency), points in sorted(lines.items(), key=lambda i: str(i[0][2])):
                x, y = zip(*points, strict=True)
                axis.plot(x, y, marker=".", linewidth=1.2, label=currency)
            if any(key[2] for key in lines):
                axis.legend(fontsize=8, loc="upper left")
            axis.set_ylim(bottom=0)
            axis.tick_params(labelsize=8)
            axis.grid(alpha=0.3)
    for axis in axes[-1]:
        axis.set_xlim(first, last)
        axis.xaxis.set_major_locator(mdates.DayLocator(interval=7))
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
        axis.tick_params(axis="x", labelsize=8, rotation=30)
    figure.suptitle(
        f"perfreports_daily, {first} to {last}: daily totals per vendor and measure",
        fontsize=13,
    )
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default="output/warehouse.duckdb")
    parser.add_argument("--schema", default="analytics", help="the dbt models' schema")
    parser.add_argument("--out", type=Path, default=Path("output/perfreports_daily.png"))
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    series, last = daily_series(args.path, args.schema, args.days)
    if last is None:
        raise SystemExit(f"{args.schema}.perfreports_daily is empty: nothing to draw")
    draw(series, last, args.days, args.out)
    print(f"\nWrote {args.out}: the last {args.days} days per vendor and measure.")


if __name__ == "__main__":
    main()
