"""dbt on what the tap lands (issue 20), through Meltano's dbt plugins, on the sandbox.

`dbt build` (every model and test) passes in DuckDB and in PostgreSQL; perfreports_daily's
sums equal the landed tables' sums under the documented mapping, computed here in Python
straight from the landed tables (per day, vendor, stream, measure and currency); the
generated key tests do fail on a duplicated key; with only some vendors landed the models
still build, and `dbt source freshness` passes the vendors that are current and fails the
one that is late, measured from its completeness rule.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import struct
import subprocess
import sys
import typing as t
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.e2e.conftest import OFFLINE_ENV, Meltano, Postgres
from tests.helpers import REPO

pytestmark = pytest.mark.e2e

#: What `meltano install` puts in .meltano/ for the two dbt plugins.
DBT_EXECUTABLES = (
    "utilities/dbt-duckdb/venv/bin/dbt",
    "utilities/dbt-postgres/venv/bin/dbt",
)
MEASURES = ("impressions", "clicks", "conversions", "calls", "revenue", "spend")
#: Measures that are counts (bigint in perfreports_daily); the others are money.
COUNTS = {"impressions", "clicks", "conversions", "calls"}
#: Plum Voice's ALL and two of the sandbox's five numbers, and Adobe Target's segments: the
#: rows perfreports_daily must not add to the merged and aggregate ones.
DOUBLE_COUNT_ENV = {
    "TAP_PERFREPORTS_PLUMVOICE_PHONES": '["ALL", "6175550100", "6175550101"]',
    "TAP_PERFREPORTS_ADOBE_TARGET_SEGMENTS": "all",
}

Query = t.Callable[[str], list[tuple]]
#: (vendor, source_stream, measure, currency, day) -> sum
Sums = dict[tuple[str, str, str, str | None, dt.date], float]


@pytest.fixture(scope="module")
def dbt_plugins(meltano_project: Path) -> Path:
    """The dbt utilities installed (`make test` has; a bare `pytest` may not have)."""
    plugins = meltano_project / ".meltano"
    if not all((plugins / exe).exists() for exe in DBT_EXECUTABLES):
        done = subprocess.run(
            [str(REPO / ".venv/bin/meltano"), "install", "--plugin-type", "utility"],
            cwd=meltano_project,
            env={**os.environ, **OFFLINE_ENV},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return meltano_project


def dbt_env(meltano: Meltano, postgres: Postgres | None = None) -> dict[str, str]:
    """dbt reads what the test's loaders wrote, and writes its models, compiled SQL and logs
    beside them: the test's own schemas and folder (as Meltano settings of the plugins)."""
    plugins = ["duckdb"] + (["postgres"] if postgres is not None else [])
    env: dict[str, str] = {}
    for plugin in plugins:
        prefix = f"DBT_{plugin.upper()}_"
        env |= {
            f"{prefix}SOURCE_SCHEMA": meltano.schema,
            f"{prefix}SCHEMA": f"{meltano.schema}_analytics",
            f"{prefix}TARGET_PATH": str(meltano.folder / "dbt-target"),
            f"{prefix}LOG_PATH": str(meltano.folder / "dbt-logs"),
        }
    env["DBT_DUCKDB_PATH"] = str(meltano.duckdb_path)
    if postgres is not None:
        env |= {
            "DBT_POSTGRES_HOST": postgres.host,
            "DBT_POSTGRES_PORT": str(postgres.port),
            "DBT_POSTGRES_USER": postgres.user,
            "DBT_POSTGRES_PASSWORD": "",
            "DBT_POSTGRES_DBNAME": postgres.dbname,
        }
    return env


def day_of(value: t.Any) -> dt.date:
    """A landed date (DuckDB lands it as text, PostgreSQL as a date)."""
    return dt.date.fromisoformat(str(value)[:10])


# --- perfreports_daily, computed from the landed tables -----------------------------------


class Landed:
    """The landed tables of one schema, as lists of dicts."""

    def __init__(self, query: Query, schema: str) -> None:
        self.query = query
        self.schema = schema
        self.tables = {
            name
            for (name,) in query(
                "select table_name from information_schema.tables "  # noqa: S608
                f"where table_schema = '{schema}'"
            )
        }

    def rows(self, table: str, columns: str) -> list[dict[str, t.Any]]:
        if table not in self.tables:
            return []
        names = [c.strip().strip('"') for c in columns.split(",")]
        found = self.query(f"select {columns} from {self.schema}.{table}")  # noqa: S608
        return [dict(zip(names, row, strict=True)) for row in found]

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from {self.schema}.{table}")[0][0])  # noqa: S608


def expected_daily(landed: Landed, counting: str = "visitor") -> Sums:
    """perfreports_daily's measures as the README's mapping defines them, in Python."""
    sums: Sums = defaultdict(float)
    for (vendor, stream, measure, currency, day), value in [
        *infinity_measures(landed),
        *plumvoice_measures(landed),
        *adobe_target_measures(landed, counting),
        *citygrid_measures(landed),
        *mintegral_measures(landed),
    ]:
        if value is not None:
            sums[(vendor, stream, measure, currency, day_of(day))] += float(value)
    return dict(sums)


Measured = t.Iterator[tuple[tuple[str, str, str, str | None, t.Any], t.Any]]


def infinity_measures(landed: Landed) -> Measured:
    """The day's channel counts; infinity_triggers adds nothing (the same events)."""
    stream = ("infinity", "infinity_channel_metrics")
    for row in landed.rows("infinity_channel_metrics", '"date", call_count, goal_count, revenue'):
        yield (*stream, "conversions", None, row["date"]), row["goal_count"]
        yield (*stream, "calls", None, row["date"]), row["call_count"]
        yield (*stream, "revenue", None, row["date"]), row["revenue"]


def plumvoice_measures(landed: Landed) -> Measured:
    """Day periods; the local date is the UTC date 12 hours after period_start; ALL alone
    on the days it has, the numbers on the days it does not."""
    rows = [
        {**row, "day": (row["period_start"] + dt.timedelta(hours=12)).date()}
        for row in landed.rows("plumvoice_performance", "phone, period, period_start, calls")
        if row["period"] == "day"
    ]
    merged_days = {row["day"] for row in rows if row["phone"] == "ALL"}
    for row in rows:
        if row["phone"] == "ALL" or row["day"] not in merged_days:
            yield ("plumvoice", "plumvoice_performance", "calls", None, row["day"]), row["calls"]


def adobe_target_measures(landed: Landed, counting: str) -> Measured:
    """Day samples of the aggregate report, experiences only (not "Campaign"): Entry of
    the impression report, the last step and the amount of the `counting` report."""

    def kept(row: dict[str, t.Any]) -> bool:
        return (
            row["duration"] == "day"
            and row["segment_id"] == "aggregate"
            and row["recipe_name"] != "Campaign"
        )

    common = "campaign_id, metric_type, segment_id, sample_start, duration, recipe_name"
    steps = landed.rows("adobe_target_steps", f'{common}, step_position, "value"')
    steps = [row for row in steps if kept(row)]
    last_step: dict[tuple, int] = defaultdict(int)
    for row in steps:
        recipe = (row["campaign_id"], row["metric_type"], row["sample_start"], row["recipe_name"])
        last_step[recipe] = max(last_step[recipe], row["step_position"])
    for row in steps:
        recipe = (row["campaign_id"], row["metric_type"], row["sample_start"], row["recipe_name"])
        key = ("adobe_target", "adobe_target_steps")
        if row["metric_type"] == "impression" and row["step_position"] == 1:
            yield (*key, "impressions", None, row["sample_start"]), row["value"]
        if row["metric_type"] == counting and row["step_position"] == last_step[recipe]:
            yield (*key, "conversions", None, row["sample_start"]), row["value"]
    for row in landed.rows("adobe_target_recipes", f"{common}, amount"):
        if kept(row) and row["metric_type"] == counting:
            key = ("adobe_target", "adobe_target_recipes")
            yield (*key, "revenue", None, row["sample_start"]), row["amount"]


def citygrid_measures(landed: Landed) -> Measured:
    """Revenue of view overall; ad impressions and clicks of view ads; not placesThatPay."""
    for row in landed.rows("citygrid_overall", '"date", revenue'):
        yield ("citygrid", "citygrid_overall", "revenue", None, row["date"]), row["revenue"]
    for row in landed.rows("citygrid_ads", '"date", bidded_impressions, billable_clicks'):
        key = ("citygrid", "citygrid_ads")
        yield (*key, "impressions", None, row["date"]), row["bidded_impressions"]
        yield (*key, "clicks", None, row["date"]), row["billable_clicks"]


def mintegral_measures(landed: Landed) -> Measured:
    columns = {"impressions": "impression", "clicks": "click", "conversions": "conversion"}
    for row in landed.rows(
        "mintegral_performance", '"date", currency, impression, click, conversion, spend'
    ):
        for measure, column in {**columns, "spend": "spend"}.items():
            key = ("mintegral", "mintegral_performance", measure, row["currency"], row["date"])
            yield key, row[column]


def actual_daily(query: Query, schema: str) -> Sums:
    """perfreports_daily's non-null measures, summed over partitions."""
    sums: Sums = defaultdict(float)
    columns = ", ".join(MEASURES)
    for day, vendor, stream, currency, *values in query(
        f"select report_date, vendor, source_stream, currency, {columns} "  # noqa: S608
        f"from {schema}.perfreports_daily"
    ):
        for measure, value in zip(MEASURES, values, strict=True):
            if value is not None:
                sums[(vendor, stream, measure, currency, day_of(day))] += float(value)
    return dict(sums)


def assert_same_sums(actual: Sums, expected: Sums) -> None:
    """Equal per day, vendor, stream, measure and currency; then per vendor and measure."""
    assert expected, "nothing landed to compare"
    assert set(actual) == set(expected), {
        "only in perfreports_daily": sorted(set(actual) - set(expected))[:5],
        "only in the landed tables": sorted(set(expected) - set(actual))[:5],
    }
    wrong = {
        key: (actual[key], value)
        for key, value in expected.items()
        if not math.isclose(actual[key], value, rel_tol=1e-9, abs_tol=1e-6)
    }
    assert not wrong, f"{len(wrong)} differ (perfreports_daily, landed): {list(wrong.items())[:5]}"
    totals: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for key, value in expected.items():
        totals[(key[0], key[2], key[3])][0] += actual[key]
        totals[(key[0], key[2], key[3])][1] += value
    for key, (got, want) in totals.items():
        assert math.isclose(got, want, rel_tol=1e-9), key


def assert_dbt_build_passed(output: str) -> None:
    assert "Completed successfully" in output, output[-4000:]
    done = next(line for line in output.splitlines() if "Done. PASS=" in line)
    assert " WARN=0 ERROR=0 SKIP=0" in done, done
    # 11 models and every generated and hand-written test: none skipped.
    assert int(done.split("PASS=")[1].split()[0]) >= 80, done


def assert_quickstart_outputs(meltano: Meltano, analytics: str, expected: Sums) -> None:
    """The quick start's table holds each vendor's last 7 days as the landed tables sum them,
    and its picture is drawn."""
    summary = subprocess.run(
        [sys.executable, str(REPO / "scripts/warehouse_summary.py"), str(meltano.duckdb_path),
         "--schema", analytics],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    table = summary.split("Last 7 days per vendor")[1].splitlines()[2:]
    cells = {line.split()[0]: line for line in table if line.strip()}
    assert set(cells) == {"infinity", "plumvoice", "adobe_target", "citygrid", "mintegral"}
    for vendor, line in cells.items():
        days = {key[4] for key in expected if key[0] == vendor}
        week = {day for day in days if day > max(days) - dt.timedelta(days=7)}
        assert f"{min(week)}..{max(week)}" in line, line
        for measure in MEASURES:
            values = {k: v for k, v in expected.items() if k[0] == vendor and k[2] == measure}
            values = {k: v for k, v in values.items() if k[4] in week}
            if not values:
                continue
            if measure in COUNTS:
                assert f" {int(sum(values.values())):,} " in f"{line} ", (measure, line)
            else:
                for currency in {k[3] for k in values}:
                    amount = sum(v for k, v in values.items() if k[3] == currency)
                    text = f"{amount:,.2f}" + (f" {currency}" if currency else "")
                    assert text in line, (measure, currency, line)
    picture = meltano.folder / "perfreports_daily.png"
    subprocess.run(
        [sys.executable, str(REPO / "scripts/plot_perfreports_daily.py"),
         str(meltano.duckdb_path), "--schema", analytics, "--out", str(picture)],
        capture_output=True, check=True,
    )  # fmt: skip
    header = picture.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width > 1000, width
    assert height > 600, height


# --- The tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_dbt_build_passes_and_perfreports_daily_adds_up(
    warehouse: str, dbt_plugins: Path, meltano: Meltano, request: pytest.FixtureRequest
):
    postgres: Postgres | None = None
    if warehouse == "postgres":
        postgres = request.getfixturevalue("postgres")
        meltano = Meltano(meltano.project, meltano.folder, postgres)
        query: Query = postgres.query
    else:
        query = meltano.duckdb
    run = meltano.run(
        "run", "tap-perfreports", f"target-{warehouse}", f"dbt-{warehouse}:build",
        env={**DOUBLE_COUNT_ENV, **dbt_env(meltano, postgres)},
    )  # fmt: skip
    assert run.returncode == 0, run.output[-4000:]
    assert_dbt_build_passed(run.output)

    landed = Landed(query, meltano.schema)
    analytics = f"{meltano.schema}_analytics"
    # The rows perfreports_daily leaves out are there, and would change its sums.
    plum_numbers = landed.rows("plumvoice_performance", "phone, calls")
    assert sum(r["calls"] for r in plum_numbers if r["phone"] != "ALL") > 0
    assert {r["segment_id"] for r in landed.rows("adobe_target_recipes", "segment_id")} == {
        "aggregate",
        "0",
        "1",
    }
    assert sum(
        r["amount"] for r in landed.rows("adobe_target_recipes", "recipe_name, amount")
        if r["recipe_name"] == "Campaign"
    ) > 0  # fmt: skip
    assert sum(r["revenue"] for r in landed.rows("citygrid_places_that_pay", "revenue")) > 0
    # infinity_triggers holds the events infinity_channel_metrics counts: adding both
    # would count every call and goal twice.
    events = landed.rows("infinity_triggers", "act")
    channels = landed.rows("infinity_channel_metrics", "call_count, goal_count")
    assert sum(r["act"] == "call" for r in events) == sum(r["call_count"] for r in channels) > 0
    assert sum(r["act"] == "goal" for r in events) == sum(r["goal_count"] for r in channels) > 0

    # Staging models keep every landed row.
    for table, model in (
        ("infinity_triggers", "stg_infinity__triggers"),
        ("infinity_channel_metrics", "stg_infinity__channel_metrics"),
        ("plumvoice_performance", "stg_plumvoice__performance"),
        ("adobe_target_steps", "stg_adobe_target__steps"),
        ("adobe_target_recipes", "stg_adobe_target__recipes"),
        ("adobe_target_engagement", "stg_adobe_target__engagement"),
        ("citygrid_overall", "stg_citygrid__overall"),
        ("citygrid_ads", "stg_citygrid__ads"),
        ("citygrid_places_that_pay", "stg_citygrid__places_that_pay"),
        ("mintegral_performance", "stg_mintegral__performance"),
        ("perfreports_reconciliation", "stg_perfreports__reconciliation"),
    ):
        assert Landed(query, analytics).count(model) == landed.count(table) > 0, model

    expected = expected_daily(landed)
    assert {key[0] for key in expected} == {
        "infinity",
        "plumvoice",
        "adobe_target",
        "citygrid",
        "mintegral",
    }
    assert_same_sums(actual_daily(query, analytics), expected)
    # A vendor's missing measures are null, never 0.
    nulls = query(
        f"select count(*) from {analytics}.perfreports_daily "  # noqa: S608
        "where (vendor = 'plumvoice' and revenue is not null) "
        "or (vendor = 'mintegral' and (calls is not null or currency is null)) "
        "or (vendor <> 'mintegral' and (spend is not null or currency is not null))"
    )
    assert nulls == [(0,)]

    if warehouse == "duckdb":
        assert_quickstart_outputs(meltano, analytics, expected)
        # The generated tests bite: a duplicated key and a period the docs do not list.
        with duckdb.connect(str(meltano.duckdb_path)) as db:
            # (target-duckdb declares the key: the table is recreated without it)
            db.execute(
                f"create or replace table {meltano.schema}.citygrid_ads as "  # noqa: S608
                f"select * from {meltano.schema}.citygrid_ads union all "
                f"(select * from {meltano.schema}.citygrid_ads limit 1)"
            )
            db.execute(
                f"update {meltano.schema}.plumvoice_performance set period = 'year' "  # noqa: S608
                "where period_start = (select min(period_start) "
                f"from {meltano.schema}.plumvoice_performance)"
            )
        rerun = meltano.run("invoke", "dbt-duckdb:build", env=dbt_env(meltano))
        assert rerun.returncode != 0
        failed = {
            line.split("FAIL 1 ")[1].split()[0]
            for line in rerun.output.splitlines()
            if "FAIL 1 " in line
        }
        key_test = "unique_combination_of_columns_stg_citygrid__ads_"
        assert f"{key_test}publisher_code__placement__report_date" in failed, failed
        period_test = "accepted_values_stg_plumvoice__performance_period"
        assert any(name.startswith(period_test) for name in failed), failed


def test_freshness_names_the_late_vendor_and_models_build_without_the_others(
    dbt_plugins: Path, meltano: Meltano
):
    """CityGrid landed up to 6 days ago is late; Mintegral and Plum Voice, landed up to
    their latest complete days, are not; Infinity and Adobe Target are not landed at all."""
    now = dt.datetime.now(dt.UTC)
    old_end = (now.astimezone(ZoneInfo("America/Los_Angeles")) - dt.timedelta(days=6)).date()
    env = dbt_env(meltano)
    # (Each vendor's extractor gets one of its settings: the dev environment's empty vendor
    # objects do not reach the extractors that inherit from tap-perfreports.)
    runs = [
        ("tap-perfreports-citygrid", {"TAP_PERFREPORTS_END_DATE": old_end.isoformat(),
                                      "TAP_PERFREPORTS_CITYGRID_LOOKBACK_DAYS": "3"}),
        ("tap-perfreports-mintegral", {"TAP_PERFREPORTS_MINTEGRAL_LOOKBACK_DAYS": "2"}),
        # Numbers only, no ALL: perfreports_daily then adds the numbers' rows.
        ("tap-perfreports-plumvoice",
         {"TAP_PERFREPORTS_PLUMVOICE_PHONES": '["6175550100", "6175550102"]'}),
    ]  # fmt: skip
    for extractor, extra in runs:
        run = meltano.run("run", extractor, "target-duckdb", env={**env, **extra})
        assert run.returncode == 0, run.output[-3000:]
    build = meltano.run("invoke", "dbt-duckdb:build", env=env)
    assert build.returncode == 0, build.output[-4000:]
    assert_dbt_build_passed(build.output)
    assert "has not been landed: its models are empty" in build.output
    landed = Landed(meltano.duckdb, meltano.schema)
    expected = expected_daily(landed)
    assert {key[0] for key in expected} == {"citygrid", "mintegral", "plumvoice"}
    assert_same_sums(actual_daily(meltano.duckdb, f"{meltano.schema}_analytics"), expected)

    freshness = meltano.run(
        "invoke", "dbt-duckdb", "source", "freshness",
        "--select", "source:citygrid", "source:mintegral", "source:plumvoice",
        env=env,
    )  # fmt: skip
    assert freshness.returncode != 0, freshness.output[-3000:]  # an error: CityGrid is late
    results = json.loads((meltano.folder / "dbt-target" / "sources.json").read_text())
    found = {
        r["unique_id"].split(".", 2)[2]: (
            r["status"],
            dt.datetime.fromisoformat(r["max_loaded_at"]),
        )
        for r in results["results"]
    }
    assert {name: status for name, (status, _) in found.items()} == {
        "citygrid.citygrid_overall": "error",
        "citygrid.citygrid_ads": "error",
        "citygrid.citygrid_places_that_pay": "error",
        "mintegral.mintegral_performance": "pass",
        "plumvoice.plumvoice_performance": "pass",
    }
    # Each measured from its vendor's completeness rule (computed here with zoneinfo).
    citygrid_last = max(day_of(r["date"]) for r in landed.rows("citygrid_overall", '"date"'))
    assert citygrid_last == old_end
    pacific = dt.datetime.combine(citygrid_last, dt.time(21), ZoneInfo("America/Los_Angeles"))
    assert found["citygrid.citygrid_overall"][1] == pacific.astimezone(dt.UTC)
    mintegral_last = max(day_of(r["date"]) for r in landed.rows("mintegral_performance", '"date"'))
    ready = dt.datetime.combine(
        mintegral_last + dt.timedelta(days=1), dt.time(3), dt.timezone(dt.timedelta(hours=8))
    )
    assert found["mintegral.mintegral_performance"][1] == ready.astimezone(dt.UTC)
    plum_last = max(
        (r["period_start"] + dt.timedelta(hours=12)).date()
        for r in landed.rows("plumvoice_performance", "period_start")
    )
    over_everywhere = dt.datetime.combine(plum_last + dt.timedelta(days=1), dt.time(12), dt.UTC)
    assert found["plumvoice.plumvoice_performance"][1] == over_everywhere
