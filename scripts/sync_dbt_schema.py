"""Write transform/models/staging/schema.yml from the tap's own schemas (`--discover`).

The staging models' columns, types, key tests and descriptions come from the streams the
tap declares, so that they never drift from it: every landed column is named once below
(its staging name, and a description where the tap gives none, from the vendor docs), its
type is the tap's JSON-schema type, and the tests come from the stream's primary key.
A stream or column the tap adds, or drops, fails this script until it is named here; the
models' enforced contracts then fail `dbt build` until their SQL follows.

    python scripts/sync_dbt_schema.py          # rewrite schema.yml
    python scripts/sync_dbt_schema.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SCHEMA_YML = REPO / "transform" / "models" / "staging" / "schema.yml"
#: Where the loaders land the tap's tables (their default_target_schema in meltano.yml).
SOURCE_SCHEMA = "{{ env_var('DBT_SOURCE_SCHEMA', 'perfreports') }}"

#: The warehouse type of each JSON-schema type, in names DuckDB and PostgreSQL both read.
TYPES = {"integer": "bigint", "number": "double precision", "boolean": "boolean"}
STRING_FORMATS = {"date": "date", "date-time": "timestamp"}

#: A source is late (warn) once the day after its latest landed day has been complete for
#: 12 hours, and fails (error) once a second day has too: the age is measured from the
#: instant the latest day became complete (macros/completeness.sql).
FRESHNESS = {
    "warn_after": {"count": 36, "period": "hour"},
    "error_after": {"count": 60, "period": "hour"},
}


@dataclass(frozen=True)
class Column:
    """A staging column: a landed column renamed (`landed`), or one the model derives."""

    name: str
    #: The landed column it comes from; None for a derived column (then `type` is needed).
    landed: str | None = None
    #: Used where the tap gives no description (or always, for a derived column).
    description: str | None = None
    type: str | None = None
    accepted_values: tuple[str, ...] = ()
    not_null: bool = False


@dataclass(frozen=True)
class Stream:
    vendor: str
    model: str
    description: str
    #: The reporting day's completion instant of a landed row (a macro call): freshness.
    #: None: the source has no freshness (its rows follow other tables' runs).
    complete_at: str | None
    columns: tuple[Column, ...]
    table_description: str = ""
    extra_tests: tuple[dict[str, t.Any], ...] = field(default=())


def c(name: str, landed: str | None = None, description: str | None = None, **kw: t.Any) -> Column:
    return Column(name, landed if landed is not None else name, description, **kw)


def derived(name: str, type_: str, description: str, **kw: t.Any) -> Column:
    return Column(name, None, description, type=type_, **kw)


ADOBE_METRIC_TYPES = ("visit", "visitor", "impression")
ADOBE_DURATIONS = ("hour", "day", "week", "month")


def adobe_common() -> tuple[Column, ...]:
    return (
        c("campaign_id", description="The T&T campaign (campaignDescriptionId)."),
        c("metric_type", accepted_values=ADOBE_METRIC_TYPES),
        c("segment_id"),
        c("segment_name"),
        c("sample_start"),
        derived(
            "sample_date",
            "date",
            "The date of sample_start: the reporting day of a day sample.",
            not_null=True,
        ),
        c("duration", accepted_values=ADOBE_DURATIONS),
        c("recipe_name", description='The recipe (experience); "Campaign" is the summary.'),
    )


VENDOR_DOCS = {
    "infinity": "Infinity Reports API v2",
    "plumvoice": "Plum Voice VoiceTrends performance API",
    "adobe_target": "Adobe Test&Target Performance Report API (version 2)",
    "citygrid": "CityGrid Ad Performance API v2",
    "mintegral": "Mintegral Advanced Performance Reporting API",
}

#: Each source (dbt source name: a vendor key, or the tap's own `perfreports`): where its
#: tables come from.
SOURCES = {
    **{vendor: f"the {title}" for vendor, title in VENDOR_DOCS.items()},
    "perfreports": "the tap's own checks of each report against the totals its vendor states",
}

#: Every stream the tap declares by default, with its staging model. Descriptions are the
#: vendor docs' (the tap's own, where it has one, wins).
STREAMS: dict[str, Stream] = {
    "infinity_triggers": Stream(
        vendor="infinity",
        model="stg_infinity__triggers",
        description=(
            "One row per tracked Infinity event (route triggers/all): landings, pages, "
            "calls and goals. The same events are counted by day in "
            "stg_infinity__channel_metrics."
        ),
        complete_at="infinity_day_complete_at(infinity_event_day('trigger_datetime'))",
        columns=(
            c("installation_id", "igrp", "The Infinity installation (igrp)."),
            c("row_id", description="The event's rowId, increasing within an installation."),
            c("triggered_at", "trigger_datetime", "When the event happened (triggerDatetime)."),
            derived(
                "report_date",
                "date",
                "The event's report day: the date of triggered_at in the report time zone "
                "(var infinity_tz, the tap's `tz`).",
                not_null=True,
            ),
            c("action", "act", "What happened: e.g. land, page, call, goal (act)."),
            c("visitor_id", "vid", "The visitor (vid)."),
            c("channel_id", "ch", "The marketing channel's id (ch)."),
            c("goal_id", "goal", "The goal type's id, for a goal event."),
            c("source_phone_number", "src_phone_number", "The caller's number, for a call."),
            c("ip_address", "ip", "The visitor's IP address (redacted with exclude_pii)."),
            c("host", description="The visitor's host name (removed with exclude_pii)."),
            c("whois", description="The visitor's network owner (removed with exclude_pii)."),
            c("revenue", description="Revenue of the event (a goal's value)."),
        ),
    ),
    "infinity_channel_metrics": Stream(
        vendor="infinity",
        model="stg_infinity__channel_metrics",
        description=(
            "One row per Infinity installation, report day and channel (route "
            "metrics/channels grouped by ch): the day's events counted per channel."
        ),
        complete_at="infinity_day_complete_at('\"date\"')",
        columns=(
            c("installation_id", "igrp", "The Infinity installation (igrp)."),
            c("report_date", "date", "The report day, in the report time zone (`tz`)."),
            c("channel_id", "ch", "The marketing channel's id (ch)."),
            c("channel_name", "ch_name", "The channel's name, e.g. ppc, seo, display."),
            c("trigger_count", description="Events (triggers) of the channel that day."),
            c("call_count", description="Calls of the channel that day."),
            c("goal_count", description="Goals (conversions) of the channel that day."),
            c("revenue", description="Revenue of the channel's goals that day."),
        ),
    ),
    "plumvoice_performance": Stream(
        vendor="plumvoice",
        model="stg_plumvoice__performance",
        description=(
            "One row per Plum Voice phone number, period and period start: IVR call "
            "quality. Rows with phone ALL are the API's merged view of every number: "
            "never add them to the per-number rows."
        ),
        complete_at="plumvoice_period_complete_at('period_start', 'period')",
        columns=(
            c("phone"),
            c("period", accepted_values=("day", "week", "month")),
            c("period_start_at", "period_start"),
            derived(
                "period_start_date",
                "date",
                "The account's local date on which the period starts (the UTC date 12 "
                "hours after period_start_at; right for accounts from UTC-12 to UTC+12).",
                not_null=True,
            ),
            c("calls", description="Calls in the period."),
            c("js_errors", description="JavaScript errors in the period."),
            c("js_errors_per_call", description="Average JavaScript errors per call."),
            c("fetch_errors", description="Fetch errors in the period."),
            c("fetch_errors_per_call", description="Average fetch errors per call."),
            c(
                "average_page_load_seconds",
                "average_page_load",
                "Average page load in the period, in seconds.",
            ),
        ),
    ),
    "adobe_target_steps": Stream(
        vendor="adobe_target",
        model="stg_adobe_target__steps",
        description=(
            "One row per Adobe Target campaign, report type (metric_type), segment, "
            "sample, recipe and step (success metric): the step's count of visits, "
            'visitors or impressions. The recipe named "Campaign" is the summary of the '
            "sample's other recipes."
        ),
        complete_at="adobe_target_sample_complete_at('sample_start', 'duration')",
        columns=(
            *adobe_common(),
            c("step_name", description="The success metric, e.g. Entry, Display mboxes."),
            c("step_position"),
            c("step_value", "value"),
        ),
    ),
    "adobe_target_recipes": Stream(
        vendor="adobe_target",
        model="stg_adobe_target__recipes",
        description=(
            "One row per Adobe Target campaign, report type (metric_type), segment, "
            'sample and recipe, with its revenue. The recipe named "Campaign" '
            "(is_summary) is the summary of the sample's other recipes."
        ),
        complete_at="adobe_target_sample_complete_at('sample_start', 'duration')",
        columns=(*adobe_common(), c("is_summary"), c("revenue", "amount")),
    ),
    "adobe_target_engagement": Stream(
        vendor="adobe_target",
        model="stg_adobe_target__engagement",
        description=(
            "One row per engagement metric of an Adobe Target recipe (engagementMetrics): "
            "how often a success metric was viewed, its total and sum of squares."
        ),
        complete_at="adobe_target_sample_complete_at('sample_start', 'duration')",
        columns=(
            *adobe_common(),
            c("step_name", description="The success metric (stepName)."),
            c("engagement_count", "count", "Times this success metric was viewed."),
            c("engagement_total", "total", "The calculated value of the success metric."),
            c("sum_of_squares", description="Sum of squares, for extreme order calculation."),
        ),
    ),
    "citygrid_overall": Stream(
        vendor="citygrid",
        model="stg_citygrid__overall",
        description=(
            "One row per CityGrid publisher code, placement and reporting day (9 p.m. to "
            "9 p.m. Pacific), view type overall."
        ),
        complete_at="citygrid_day_complete_at('\"date\"')",
        columns=(
            c("publisher_code", description="The publisher code the report covers."),
            c("placement", description="The placement, or `all` (every placement merged)."),
            c("report_date", "date", "CityGrid's reporting day: 9 p.m. D-1 to 9 p.m. D Pacific."),
            c("billable_connections", description="Billable connections that day."),
            c("revenue", description="Revenue that day."),
            c("cpc", description="Revenue per billable connection (CPC)."),
            c("ltc_clicks", "ltc", "LTC clicks that day."),
            c("ltc_revenue", description="LTC revenue that day."),
        ),
    ),
    "citygrid_ads": Stream(
        vendor="citygrid",
        model="stg_citygrid__ads",
        description=(
            "One row per CityGrid publisher code, placement and reporting day (9 p.m. to "
            "9 p.m. Pacific), view type ads."
        ),
        complete_at="citygrid_day_complete_at('\"date\"')",
        columns=(
            c("publisher_code", description="The publisher code the report covers."),
            c("placement", description="The placement, or `all` (every placement merged)."),
            c("report_date", "date", "CityGrid's reporting day: 9 p.m. D-1 to 9 p.m. D Pacific."),
            c("queries", "impressions", "Queries that day (the API's `impressions`)."),
            c("ad_impressions", "bidded_impressions", "Ad impressions that day."),
            c("billable_clicks", description="Ad clicks that day."),
            c("revenue", description="Revenue that day."),
            c("rpm", description="Revenue per thousand queries."),
            c("ctr_percent", "ctr", "Ad clicks per ad impression, in percent (CTR)."),
            c("cpc", description="Revenue per ad click (CPC)."),
            c("coverage_percent", "coverage", "Ad impressions per query, in percent."),
            c("ltc_clicks", "ltc", "LTC clicks that day."),
            c("ltc_revenue", description="LTC revenue that day."),
        ),
    ),
    "citygrid_places_that_pay": Stream(
        vendor="citygrid",
        model="stg_citygrid__places_that_pay",
        description=(
            "One row per CityGrid publisher code, placement and reporting day (9 p.m. to "
            "9 p.m. Pacific), view type placesThatPay."
        ),
        complete_at="citygrid_day_complete_at('\"date\"')",
        columns=(
            c("publisher_code", description="The publisher code the report covers."),
            c("placement", description="The placement, or `all` (every placement merged)."),
            c("report_date", "date", "CityGrid's reporting day: 9 p.m. D-1 to 9 p.m. D Pacific."),
            c("queries", "impressions", "Queries that day (the API's `impressions`)."),
            c("revenue", description="Revenue that day."),
            c("rpm", description="Revenue per thousand queries."),
            c("ltc_clicks", "ltc", "LTC clicks that day."),
            c("ltc_revenue", description="LTC revenue that day."),
        ),
    ),
    "mintegral_performance": Stream(
        vendor="mintegral",
        model="stg_mintegral__performance",
        description=(
            "One row per Mintegral report day (in the report time zone), offer, campaign, "
            "location and currency: the tap's default report (Offer, Campaign, Location, "
            "daily)."
        ),
        complete_at="mintegral_day_complete_at('\"date\"')",
        columns=(
            c("report_date", "date", "The report day, in the report time zone (`timezone`)."),
            c("offer_id", description="Offer ID."),
            c("offer_uuid", description="Unique offer name generated automatically."),
            c("offer_name", description="Offer name."),
            c("campaign_id", description="Campaign ID."),
            c("location", description="Location (country code)."),
            c(
                "currency",
                description="Currency of spend, ecpm and cpc.",
                accepted_values=("USD", "CNY"),
            ),
            c("impressions", "impression", "Impressions."),
            c("clicks", "click", "Clicks."),
            c("conversions", "conversion", "Conversions."),
            c("ecpm", description="Spend per thousand impressions (eCPM)."),
            c("cpc", description="Spend per click (CPC)."),
            c("ctr", description="Clicks per impression, as a ratio (CTR)."),
            c("cvr", description="Conversions per click, as a ratio (CVR)."),
            c("ivr", description="Conversions per impression, as a ratio (IVR)."),
            c("spend", description="Spend, in `currency`."),
        ),
    ),
    "perfreports_reconciliation": Stream(
        vendor="perfreports",
        model="stg_perfreports__reconciliation",
        description=(
            "One row per report window, partition and metric whose total the vendor "
            "states: the stated total, what the extracted rows give, and the verdict "
            "(pass, mismatch, or unstated). A day whose window has a mismatch is not to be "
            "trusted. Only CityGrid states totals the tap checks (README: Reconciliation)."
        ),
        complete_at=None,
        columns=(
            c("vendor"),
            c("source_stream", "stream"),
            c("partition_key"),
            c("window_start"),
            c("window_end"),
            c("metric"),
            c("rule"),
            c("stated"),
            c("summed"),
            c("difference"),
            c("tolerance"),
            c("verdict", accepted_values=("pass", "mismatch", "unstated")),
        ),
    ),
}


class Drift(Exception):
    """The tap's schemas and STREAMS disagree: what to change, in one line per problem."""


def discover() -> list[dict[str, t.Any]]:
    """The tap's catalog streams, discovered with the sandbox (no account, no network)."""
    config = {"sandbox": True, **{key: {} for key in VENDOR_DOCS}}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(
            [sys.executable, "-m", "tap_perfreports", "--config", str(path), "--discover"],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"tap-perfreports --discover failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)["streams"]


def warehouse_type(schema: dict[str, t.Any]) -> str:
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else types
    for name, sql in TYPES.items():
        if name in types:
            return sql
    if "string" in types:
        return STRING_FORMATS.get(schema.get("format", ""), "varchar")
    raise Drift(f"no warehouse type for the JSON schema {schema}")


def key_of(stream: dict[str, t.Any]) -> list[str]:
    top = next(m["metadata"] for m in stream["metadata"] if m["breadcrumb"] == [])
    return list(stream.get("key_properties") or top.get("table-key-properties") or [])


def described(text: str | None) -> str:
    return " ".join((text or "").split())


def column_entry(column: Column, description: str, type_: str, is_key: bool) -> dict[str, t.Any]:
    entry: dict[str, t.Any] = {"name": column.name, "data_type": type_}
    entry["description"] = description
    tests: list[t.Any] = []
    if is_key or column.not_null:
        tests.append("not_null")
    if column.accepted_values:
        tests.append({"accepted_values": {"arguments": {"values": list(column.accepted_values)}}})
    if tests:
        entry["data_tests"] = tests
    return entry


def drift(name: str, spec: Stream, properties: dict[str, t.Any]) -> list[str]:
    """What STREAMS must change for the stream `name`, one line each."""
    problems = []
    named = {col.landed for col in spec.columns if col.landed}
    for landed in properties:
        if landed not in named:
            problems.append(f"{name}.{landed} has no staging column: add it to STREAMS")
    for landed in sorted(named - set(properties)):
        problems.append(f"{name}.{landed} is no longer in the tap's schema: remove it")
    for column in spec.columns:
        schema = properties.get(column.landed or "", {})
        if column.landed in properties and not (schema.get("description") or column.description):
            problems.append(f"{name}.{column.landed}: no description from the tap or STREAMS")
        if column.landed is None and not (column.type and column.description):
            problems.append(f"{name}: the derived column {column.name} needs a type and words")
    return problems


def source_table(name: str, spec: Stream, stream: dict[str, t.Any]) -> dict[str, t.Any]:
    """The landed table: the tap's columns, types and words, and its freshness query."""
    properties = stream["schema"]["properties"]
    described_by = {col.landed: col.description for col in spec.columns if col.landed}
    table: dict[str, t.Any] = {
        "name": name,
        "description": (
            f"The tap's stream {name}, as a loader lands it. "
            f"Primary key: {', '.join(key_of(stream))}."
        ),
    }
    if spec.complete_at is not None:
        completed = "{{ " + spec.complete_at + " }}"
        # dbt renders it when it runs freshness: macros and `this` (the landed table).
        table["config"] = {"loaded_at_query": f"select max({completed}) from {{{{ this }}}}"}  # noqa: S608
    return {
        **table,
        "columns": [
            {
                "name": landed,
                "data_type": warehouse_type(schema),
                "description": described(schema.get("description") or described_by[landed]),
            }
            for landed, schema in properties.items()
        ],
    }


def model(name: str, spec: Stream, stream: dict[str, t.Any]) -> dict[str, t.Any]:
    """The staging model: renamed columns with the tap's types, and its key's tests."""
    properties = stream["schema"]["properties"]
    key = key_of(stream)
    columns = []
    for column in spec.columns:
        if column.landed is None:
            text, type_ = described(column.description), str(column.type)
        else:
            schema = properties[column.landed]
            text = described(schema.get("description") or column.description)
            type_ = warehouse_type(schema)
            if column.landed != column.name:
                text = f"{text} Landed as `{column.landed}`."
        columns.append(column_entry(column, text, type_, column.landed in key))
    staging_of = {col.landed: col.name for col in spec.columns if col.landed}
    staged_key = [staging_of[k] for k in key]
    unique = {
        "unique_combination_of_columns": {"arguments": {"combination_of_columns": staged_key}}
    }
    return {
        "name": spec.model,
        "description": (
            f"{described(spec.description)} From {SOURCES[spec.vendor]}, through the "
            f"tap's stream {name}. Unique on ({', '.join(staged_key)}), the stream's primary key."
        ),
        "config": {"contract": {"enforced": True}},
        "data_tests": [unique],
        "columns": columns,
    }


def fresh(source: str) -> bool:
    """Whether a source's tables have freshness: those of the vendors' reports do."""
    return all(spec.complete_at for spec in STREAMS.values() if spec.vendor == source)


def build(catalog: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """schema.yml's content for the tap's `catalog`; Drift if STREAMS does not fit it."""
    by_name = {s["tap_stream_id"]: s for s in catalog}
    added, dropped = sorted(set(by_name) - set(STREAMS)), sorted(set(STREAMS) - set(by_name))
    problems = [
        *(f"stream {name} has no staging model: add it to STREAMS" for name in added),
        *(f"stream {name} is no longer declared by the tap: remove it" for name in dropped),
    ]
    for name, spec in STREAMS.items():
        if name in by_name:
            problems += drift(name, spec, by_name[name]["schema"]["properties"])
    if problems:
        raise Drift("\n".join(problems))
    return {
        "version": 2,
        "sources": [
            {
                "name": vendor,
                "description": f"Tables the tap lands from {SOURCES[vendor]}.",
                "schema": SOURCE_SCHEMA,
                "config": {"freshness": FRESHNESS if fresh(vendor) else None},
                "tables": [
                    source_table(name, spec, by_name[name])
                    for name, spec in STREAMS.items()
                    if spec.vendor == vendor
                ],
            }
            for vendor in SOURCES
        ],
        "models": [model(name, spec, by_name[name]) for name, spec in STREAMS.items()],
    }


HEADER = """\
# Generated by scripts/sync_dbt_schema.py from the tap's own schemas (tap-perfreports
# --discover): do not edit. Column names, types, tests and descriptions follow the tap;
# run the script after the tap changes a stream (`make test` checks this file is current).
"""


class _Dumper(yaml.SafeDumper):
    """Writes shared values out in full (no YAML anchors and aliases)."""

    def ignore_aliases(self, data: t.Any) -> bool:
        return True


def render(document: dict[str, t.Any]) -> str:
    return HEADER + yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, width=88, allow_unicode=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args()
    try:
        text = render(build(discover()))
    except Drift as drift:
        raise SystemExit(f"the tap's schemas changed:\n{drift}") from None
    if args.check:
        current = SCHEMA_YML.read_text() if SCHEMA_YML.exists() else ""
        if current != text:
            where = SCHEMA_YML.relative_to(REPO)
            sys.exit(f"{where} is out of date: run scripts/sync_dbt_schema.py")
        return
    SCHEMA_YML.write_text(text)
    print(SCHEMA_YML.relative_to(REPO))


if __name__ == "__main__":
    main()
