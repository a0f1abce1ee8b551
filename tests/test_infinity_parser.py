"""The Infinity parser on the documentation's own examples, byte for byte."""

from __future__ import annotations

import io

import pytest

from tap_perfreports.casting import casts_for, datetime_caster
from tap_perfreports.errors import ParseError, PermanentError
from tap_perfreports.vendors.infinity import (
    InfinityReport,
    check_body,
    describe_error,
    parse_lines,
)
from tests.helpers import doc_text, fixture_bytes

pytestmark = pytest.mark.unit

DOC = "infinity-reports-api-v2.md"


@pytest.mark.parametrize("name", ["output_format.jsonl", "display_alias.jsonl"])
def test_fixtures_are_verbatim_from_the_doc(name):
    assert fixture_bytes("infinity", name).decode() in doc_text(DOC)


def test_error_body_fixture_is_verbatim_from_the_doc():
    assert fixture_bytes("infinity", "error_body.json").decode() in doc_text(DOC)


def test_output_format_example_parses_line_by_line():
    columns = {"orgId": "org_id", "orgTitle": "org_title", "orgCreated": "org_created"}
    schema = {
        "properties": {
            "org_id": {"type": ["integer"]},
            "org_title": {"type": ["string"]},
            "org_created": {"type": ["string"], "format": "date-time"},
        }
    }
    body = io.BytesIO(fixture_bytes("infinity", "output_format.jsonl"))
    rows = list(parse_lines(body, columns, casts_for(schema)))
    assert rows == [
        {
            "org_id": 101,
            "org_title": "Organisation One",
            "org_created": "2012-02-29T15:20:13+00:00",
        },
        {
            "org_id": 102,
            "org_title": "Organisation Two",
            "org_created": "2012-02-29T15:20:13+00:00",
        },
        {
            "org_id": 103,
            "org_title": "Organisation Three",
            "org_created": "2012-02-29T15:20:13+00:00",
        },
    ]


def test_display_example_with_an_alias_becomes_snake_case_columns():
    report = InfinityReport(
        {
            "name": "visits",
            "route": "triggers/all",
            "display": ["triggerDatetime", "act", "vid-visitorId"],
        }
    )
    assert ("display[]", "vid-visitorId") in report.query()
    assert report.columns["visitorId"] == "visitor_id"
    casts = casts_for(report.schema())
    body = io.BytesIO(fixture_bytes("infinity", "display_alias.jsonl"))
    rows = list(parse_lines(body, report.columns, casts))
    visitor = "b5bb14cc-7cf6-49ff-a131-538d85bd143d"
    assert [(r["trigger_datetime"], r["act"], r["visitor_id"]) for r in rows] == [
        ("2014-01-01T00:00:00+00:00", "land", visitor),
        ("2014-01-02T00:00:00+00:00", "page", visitor),
        ("2014-01-03T00:00:00+00:00", "page", visitor),
    ]


def test_local_trigger_times_are_converted_from_the_report_time_zone():
    from zoneinfo import ZoneInfo

    cast = datetime_caster(ZoneInfo("Europe/London"))
    assert cast("2014-07-01 12:00:00") == "2014-07-01T11:00:00+00:00"
    assert cast("2014-01-01 12:00:00") == "2014-01-01T12:00:00+00:00"


def test_error_body_is_the_json_string_message():
    assert describe_error(404, fixture_bytes("infinity", "error_body.json")) == "Resource not found"
    with pytest.raises(PermanentError, match="Resource not found"):
        check_body(fixture_bytes("infinity", "error_body.json"))
    check_body(b'{"rowId":1}\n')  # a report line is no error


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"rowId":1}\n{"rowId":2\n', "line 2 is not JSON"),
        (b'{"rowId":1}\n[1,2]\n', "line 2 is not a JSON object"),
        (b'{"rowId":"x"}\n', "line 1: expected an integer"),
    ],
)
def test_malformed_lines_are_parse_errors_naming_the_line(body, problem):
    columns = {"rowId": "row_id"}
    casts = casts_for({"properties": {"row_id": {"type": ["integer"]}}})
    with pytest.raises(ParseError, match=problem):
        list(parse_lines(io.BytesIO(body), columns, casts))


def test_event_reports_are_sorted_by_row_id_alone_and_keep_their_grain():
    """Paging by rowId needs rows sorted by rowId ascending and by nothing else."""
    report = InfinityReport({"name": "calls", "route": "triggers/calls", "display": ["act"]})
    sorts = [value for key, value in report.query() if key == "sort[]"]
    assert sorts == ["rowId-asc"]
    assert report.primary_keys() == ["igrp", "trigger_datetime", "row_id"]
    assert report.replication_key() == "trigger_datetime"


def test_metric_reports_key_on_day_and_every_group_field():
    report = InfinityReport(
        {
            "name": "goals",
            "route": "metrics/channels",
            "group": ["ch", "goal"],
            "display": ["callCount"],
            "custom_metrics": {"goals246": "goalCount_goal_246"},
        }
    )
    schema = report.schema()["properties"]
    assert report.primary_keys() == ["igrp", "date", "ch", "goal"]
    assert schema["goals246"]["type"] == ["integer", "null"]
    assert "null" not in schema["goal"]["type"]
    assert ("customMetrics[goals246]", "goalCount_goal_246") in report.query()
