"""CityGrid parsers on the documentation's own examples, byte for byte."""

from __future__ import annotations

import io

import pytest

from tap_perfreports.errors import ParseError
from tap_perfreports.vendors.citygrid import VIEW_TYPES, is_total_row, parse_csv, parse_json
from tests.helpers import doc_text, fixture_bytes

pytestmark = pytest.mark.unit

DOC = "citygrid-ad-performance.md"
FIXTURES = [
    "overall.json",
    "ads.json",
    "places_that_pay.json",
    "empty.json",
    "overall.csv",
    "ads.csv",
    "places_that_pay.csv",
    "empty.csv",
    "response_data_table.txt",
]
DAYS = [f"2011-11-{day}" for day in range(15, 22)]

OVERALL = [  # date, billable_connections, revenue, cpc, ltc, ltc_revenue
    ("2011-11-15", 8, 11.5, 1.44, 2, 3.25),
    ("2011-11-16", 6, 4.5, 0.75, 7, 6.0),
    ("2011-11-17", 36, 45.0, 1.25, 2, 3.0),
    ("2011-11-18", 20, 71.0, 3.55, 7, 25.0),
    ("2011-11-19", 7, 32.0, 4.57, 1, 5.0),
    ("2011-11-20", 16, 4.0, 0.25, 8, 2.0),
    ("2011-11-21", 6, 44.25, 7.38, 6, 24.75),
]
ADS = [  # date, impressions, bidded, clicks, revenue, rpm, ctr, cpc, coverage, ltc, ltc_revenue
    ("2011-11-15", 10, 5, 2, 3.5, 700.0, 40.0, 1.75, 50.0, 1, 1.75),
    ("2011-11-16", 2, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0),
    ("2011-11-17", 12, 7, 6, 7.5, 1071.43, 85.71, 1.25, 58.33, 0, 0.0),
    ("2011-11-18", 7, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0),
    ("2011-11-19", 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0),
    ("2011-11-20", 10, 5, 1, 0.5, 100.0, 20.0, 0.5, 50.0, 1, 0.5),
    ("2011-11-21", 15, 3, 1, 10.0, 3333.33, 33.33, 10.0, 20.0, 0, 0.0),
]
PLACES = [  # date, impressions, revenue, rpm, ltc, ltc_revenue
    ("2011-11-15", 6, 8.0, 571.43, 1, 1.5),
    ("2011-11-16", 1, 2.0, 200.0, 5, 5.0),
    ("2011-11-17", 20, 27.5, 785.71, 2, 3.0),
    ("2011-11-18", 16, 61.0, 1196.08, 5, 20.0),
    ("2011-11-19", 2, 7.0, 388.89, 0, 0.0),
    ("2011-11-20", 10, 1.0, 26.32, 5, 0.5),
    ("2011-11-21", 3, 4.25, 303.57, 5, 9.75),
]
EXPECTED = {"overall": OVERALL, "ads": ADS, "placesThatPay": PLACES}
FILE_NAMES = {"overall": "overall", "ads": "ads", "placesThatPay": "places_that_pay"}


def expected_rows(view: str) -> list[dict]:
    columns = ["date", *VIEW_TYPES[view].metrics]
    return [dict(zip(columns, values, strict=True)) for values in EXPECTED[view]]


def body(name: str) -> io.BytesIO:
    return io.BytesIO(fixture_bytes("citygrid", name))


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_is_verbatim_in_the_doc(name):
    text = fixture_bytes("citygrid", name).decode()
    assert len(text) > 100 or name.startswith("empty")
    assert text in doc_text(DOC)


@pytest.mark.parametrize("view", list(EXPECTED))
def test_json_examples_give_exactly_their_rows(view):
    report = parse_json(body(f"{FILE_NAMES[view]}.json"), VIEW_TYPES[view])
    assert report.rows == expected_rows(view)
    assert [type(report.rows[0][m]) for m in ("date", "ltc", "ltc_revenue")] == [str, int, float]
    assert report.publisher_codes == ["guest"]
    assert str(report.first_day) == "2011-11-15"


def test_json_ads_example_reports_its_own_from_to():
    report = parse_json(body("ads.json"), VIEW_TYPES["ads"])
    assert (str(report.first_day), str(report.last_day)) == ("2011-11-15", "2011-11-28")


@pytest.mark.parametrize("view", list(EXPECTED))
def test_csv_examples_give_exactly_their_rows_and_no_total(view):
    rows = list(parse_csv(body(f"{FILE_NAMES[view]}.csv"), VIEW_TYPES[view]))
    assert rows == expected_rows(view)
    assert [row["date"] for row in rows] == DAYS  # the "Total: " line is not a row


@pytest.mark.parametrize("view", list(EXPECTED))
def test_json_and_csv_examples_agree(view):
    from_json = parse_json(body(f"{FILE_NAMES[view]}.json"), VIEW_TYPES[view]).rows
    assert list(parse_csv(body(f"{FILE_NAMES[view]}.csv"), VIEW_TYPES[view])) == from_json


def test_empty_reports_have_no_rows():
    report = parse_json(body("empty.json"), VIEW_TYPES["overall"])
    assert report.rows == []
    assert (str(report.first_day), str(report.last_day)) == ("2011-07-01", "2011-09-30")
    assert list(parse_csv(body("empty.csv"), VIEW_TYPES["overall"])) == []


def test_total_rows_hold_the_totals_and_are_recognised():
    last_lines = {
        name: fixture_bytes("citygrid", name).decode().splitlines()[-1]
        for name in FIXTURES
        if name.endswith(".csv")
    }
    assert last_lines["overall.csv"] == '"Total: ","99","212.25","2.14","33","69.0"'
    assert last_lines["empty.csv"] == '"Total: ","0","0.0","0.0","0","0.0"'
    assert all(is_total_row([line.split(",")[0].strip('"')]) for line in last_lines.values())
    assert not is_total_row(["2011-11-15"])


def test_a_view_type_mismatch_is_an_error():
    with pytest.raises(ParseError, match="view_type"):
        parse_json(body("ads.json"), VIEW_TYPES["overall"])


def test_csv_missing_a_metric_is_an_error():
    with pytest.raises(ParseError, match="billable_connections"):
        list(parse_csv(body("places_that_pay.csv"), VIEW_TYPES["overall"]))


def test_bad_values_are_errors():
    bad = io.BytesIO(
        b'"Date","Impressions","Revenue(USD)","RPM(USD)","LTC","LTC Revenue(USD)"\n'
        b'"2011-11-15","6.5","8.0","571.43","1","1.5"\n'
    )
    with pytest.raises(ParseError, match="line 2"):
        list(parse_csv(bad, VIEW_TYPES["placesThatPay"]))
    with pytest.raises(ParseError, match="not JSON"):
        parse_json(io.BytesIO(b"<html>"), VIEW_TYPES["overall"])


def documented_metrics() -> dict[str, set[str]]:
    """View type -> metrics, read from the doc's "Response Data" table."""
    table = fixture_bytes("citygrid", "response_data_table.txt").decode()
    lines = table.split("date daily_results", 1)[1].splitlines()
    metrics: dict[str, set[str]] = {view: set() for view in VIEW_TYPES}
    current: str | None = None
    for line in lines:
        name, found, rest = line.partition(" daily_results")
        if found:
            current = name
            first = rest.split()[0]  # an empty View Type cell (a no-break space): every view
            views = [first] if first in VIEW_TYPES else list(VIEW_TYPES)
        elif current and line.strip() in VIEW_TYPES:
            views = [line.strip()]
        else:
            continue
        for view in views:
            metrics[view].add(current)
    return metrics


def test_each_stream_has_exactly_the_metrics_the_doc_lists_for_its_view_type():
    documented = documented_metrics()
    assert documented["overall"] >= {"billable_connections", "ltc"}
    for view, spec in VIEW_TYPES.items():
        assert set(spec.metrics) == documented[view], view
        columns = list(spec.schema()["properties"])
        assert columns == ["publisher_code", "placement", "date", *spec.metrics]
