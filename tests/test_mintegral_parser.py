"""Mintegral answers and TSV downloads, checked against the documentation's own examples."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from tap_perfreports.errors import ParseError
from tap_perfreports.vendors import mintegral as m
from tap_perfreports.windows import Window
from tests.helpers import doc_text, fixture_bytes

pytestmark = pytest.mark.unit

DOC = "mintegral-advanced-performance-reporting.md"
EVERY_DIMENSION = m.MintegralReport("all", m.DIMENSIONS, "hourly")


@pytest.mark.parametrize(
    "name", ["response_example.json", "request_example.txt", "tsv_headers_table.txt"]
)
def test_fixtures_are_verbatim_excerpts_of_the_doc(name):
    assert fixture_bytes("mintegral", name).decode() in doc_text(DOC)


def test_documented_response_example_is_a_complete_generated_report():
    answer = m.parse_answer(fixture_bytes("mintegral", "response_example.json"))
    assert answer == m.Answer(code=200, message="success", hours=24, is_complete=True)
    assert m.action_for(answer.code) is m.Action.READY
    day = Window(dt.date(2024, 6, 1), dt.date(2024, 6, 1))
    assert m.last_complete_day(day, answer, dt.date(2000, 1, 1)) == day.end


def test_request_for_the_documented_example_sends_the_documented_query():
    request_line = fixture_bytes("mintegral", "request_example.txt").decode().split()[1]
    documented = parse_qsl(urlsplit(request_line).query)
    report = m.MintegralReport("offers", ("Offer",))
    params = report.params(Window(dt.date(2024, 6, 1), dt.date(2024, 6, 1)), "+8", 1)
    sent = [(name, str(value)) for name, value in params]
    assert sent[: len(documented)] == documented
    assert dict(sent[len(documented) :]) == {"time_granularity": "daily", "timezone": "+8"}
    assert urlsplit(request_line).path == "/api/v2/" + m.ROUTE
    assert urlsplit(m.API_URL).path == "/api/v2"


DOC_TYPES = {"int": "integer", "bigint": "integer", "string": "string", "Double": "number"}


def documented_headers() -> dict[str, str]:
    """Header -> documented type, read from the doc's flattened header table."""
    table = fixture_bytes("mintegral", "tsv_headers_table.txt").decode()
    rows = re.findall(r"^([A-Z][A-Za-z ]*?)(bigint|int|string|Double)(?=[A-Za-z])", table, re.M)
    return dict(rows)


def test_every_documented_header_is_a_snake_case_column_of_its_documented_type():
    headers = documented_headers()
    assert len(headers) == 26
    columns = {m.snake_case(header): kind for header, kind in headers.items()}
    assert list(columns) == list(m.COLUMN_SCHEMAS)  # same names, same order
    for column, kind in columns.items():
        schema = m.COLUMN_SCHEMAS[column]
        if column == "date":  # "Date int 20220418" becomes a date
            assert schema["format"] == "date"
        else:
            assert DOC_TYPES[kind] in schema["type"], column


def test_each_dimension_adds_the_columns_its_doc_row_names():
    table = fixture_bytes("mintegral", "tsv_headers_table.txt").decode()
    # "<Header>...\nRequest with dimension_option contains "<Dimension>"" (sic: "Creative ")
    pairs = re.findall(
        r"^([A-Z][A-Za-z ]*?)(?:bigint|int|string|Double)\S.*\n"
        r'Request with dimension_option contains "(\w+) ?"',
        table,
        re.M,
    )
    documented: dict[str, list[str]] = {}
    for header, dimension in pairs:
        documented.setdefault(dimension, []).append(m.snake_case(header))
    assert documented == {d: list(cols) for d, cols in m.DIMENSION_COLUMNS.items()}


def test_every_example_value_and_header_of_the_fixture_is_in_the_doc():
    tsv = fixture_bytes("mintegral", "doc_examples.tsv")
    header, values = (line.split("\t") for line in tsv.decode().splitlines())
    doc = doc_text(DOC)
    for name, value in zip(header, values, strict=True):
        assert name in doc
        assert value in doc


def test_every_example_value_of_the_doc_parses_to_its_exact_value():
    tsv = fixture_bytes("mintegral", "doc_examples.tsv")
    [record] = m.parse_tsv(tsv.splitlines(keepends=True), EVERY_DIMENSION)
    assert record == {
        "date": "2022-04-18",
        "timestamp": 1650270348,
        "offer_id": 73332,
        "offer_uuid": "ss_xxxx_US_AND_xxx_220112_MTG",
        "offer_name": "xxxx_US_AND_xxx_220112_MTG",
        "campaign_id": 1111,
        "campaign_package": "com.xxx.yyy",
        "creative_id": 2222,
        "creative_name": "220301-xxx-US-MTG01.png",
        "ad_type": "banner",
        "sub_id": "mtg123456",
        "package_name": "com.aaa.bbb",
        "location": "US",
        "endcard_id": 3333,
        "endcard_name": "EC_PL_XXXX_X",
        "ad_output_type": "standard",
        "currency": "USD",
        "impression": 7777,
        "click": 88888,
        "conversion": 9999,
        "ecpm": 11.11,
        "cpc": 0.03,
        "ctr": 0.3,
        "cvr": 0.1,
        "ivr": 0.05,
        "spend": 8888.8,
    }


OFFER_DAILY = m.MintegralReport("p", ("Offer", "Location"))
HEADER = b"Date\tOffer Id\tOffer Uuid\tOffer Name\tLocation\tCurrency\tImpression\tSpend\n"


def parse(body: bytes, report: m.MintegralReport = OFFER_DAILY) -> list[dict]:
    return list(m.parse_tsv(body.splitlines(keepends=True), report))


def test_columns_the_report_did_not_ask_for_are_reported_and_dropped():
    seen: list[list[str]] = []
    body = b"Date\tLocation\tOffer Id\tCurrency\tNew Metric\n20240601\tUS\t7\tUSD\t5\n"
    [record] = m.parse_tsv(body.splitlines(), OFFER_DAILY, seen.append)
    assert seen == [["New Metric"]]
    assert record["location"] == "US"
    assert record["offer_id"] == 7
    assert record["offer_name"] is None
    assert "new_metric" not in record


def test_blank_key_values_get_their_fixed_defaults():
    [record] = parse(HEADER + b"20240601\t\tu\tn\t\t\t10\t1.5\n")
    assert (record["offer_id"], record["location"], record["currency"]) == (0, "", "")


def test_crlf_lines_bom_and_blank_lines_are_tolerated():
    row = b"20240601\t7\tu\tn\tUS\tUSD\t1\t2\r\n"
    body = b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + b"\r\n" + row
    [record] = parse(body)
    assert (record["date"], record["spend"]) == ("2024-06-01", 2.0)


def test_an_empty_download_has_no_records():
    assert parse(b"") == []
    assert parse(HEADER) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (HEADER + b"20240601\t7\tu\tn\tUS\n", "line 2 has 5 fields, the header 8"),
        (HEADER + b"20240601\tseven\tu\tn\tUS\tUSD\t1\t2\n", "line 2: expected an integer"),
        (HEADER + b"2024-13-01\t7\tu\tn\tUS\tUSD\t1\t2\n", "line 2: expected a date"),
        (HEADER + b"\t7\tu\tn\tUS\tUSD\t1\t2\n", "line 2 has no Date"),
        (b"Date\tOffer Id\tCurrency\n20240601\t7\tUSD\n", "no column 'location'"),
    ],
)
def test_malformed_downloads_are_parse_errors(body, message):
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(body)


def test_hourly_reports_need_a_timestamp():
    report = m.MintegralReport("h", ("Location",), "hourly")
    with pytest.raises(ParseError, match="no column 'timestamp'"):
        parse(b"Date\tLocation\tCurrency\n20240601\tUS\tUSD\n", report)
    body = b"Date\tTimestamp\tLocation\tCurrency\n20240601\t1717171200\tUS\tUSD\n"
    [record] = parse(body, report)
    assert (record["date"], record["timestamp"]) == ("2024-06-01", 1717171200)
    with pytest.raises(ParseError, match="line 2 has no Timestamp"):
        parse(b"Date\tTimestamp\tLocation\tCurrency\n20240601\t\tUS\tUSD\n", report)


def test_rows_are_read_one_line_at_a_time():
    """A record is yielded before later lines are read: memory does not grow with the file."""

    def lines():
        yield HEADER
        yield b"20240601\t7\tu\tn\tUS\tUSD\t1\t2\n"
        raise AssertionError("read past the first row before it was consumed")

    records = m.parse_tsv(lines(), OFFER_DAILY)
    assert next(records)["offer_id"] == 7
