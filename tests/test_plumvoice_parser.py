"""The Plum Voice parser and window plan, on the documentation's own examples."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import requests

from tap_perfreports.errors import ParseError, PermanentError
from tap_perfreports.pacing import RateLimitPacer
from tap_perfreports.vendors.plumvoice import (
    MAX_WINDOW_DAYS,
    check_body,
    describe_error,
    parse_performance,
    period_windows,
    unpivot,
)
from tap_perfreports.windows import Window
from tests.helpers import doc_text, fixture_bytes

pytestmark = pytest.mark.unit

DOC = "plumvoice-voicetrends-performance.md"
EXAMPLES = [
    "performance_200.json.http",
    "performance_200.xml.http",
    "error_400.json.http",
    "error_400.xml.http",
]


def http_example(name: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a documented `HTTP/1.1 ...` example."""
    head, _, body = fixture_bytes("plumvoice", name).partition(b"\n\n")
    status_line, *header_lines = head.decode().splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("name", EXAMPLES)
def test_fixtures_are_verbatim_from_the_doc(name):
    assert fixture_bytes("plumvoice", name).decode() in doc_text(DOC)


def stamp(day: int) -> str:
    """Period starts of the example: February 2018, New York midnight (05:00 UTC)."""
    return f"2018-02-{day:02d}T05:00:00+00:00"


#: The eight rows both documented 200 examples hold.
EXPECTED = [
    {
        "period_start": stamp(day),
        "calls": 1 if day == 7 else 0,
        "js_errors": 0,
        "js_errors_per_call": 0.0,
        "fetch_errors": 0,
        "fetch_errors_per_call": 0.0,
        "average_page_load": 0.045 if day == 7 else 0.0,
    }
    for day in range(1, 9)
]


@pytest.mark.parametrize("name", ["performance_200.json.http", "performance_200.xml.http"])
def test_documented_examples_parse_into_the_same_eight_rows(name):
    status, _, body = http_example(name)
    assert status == 200
    rows = list(parse_performance(io.BytesIO(body)))
    assert rows == EXPECTED
    at_1517979600 = next(r for r in rows if r["period_start"] == "2018-02-07T05:00:00+00:00")
    assert dt.datetime.fromisoformat(at_1517979600["period_start"]).timestamp() == 1517979600
    assert at_1517979600["calls"] == 1
    assert at_1517979600["average_page_load"] == 0.045
    assert all(type(r["calls"]) is int and type(r["js_errors"]) is int for r in rows)
    assert all(type(r["average_page_load"]) is float for r in rows)


@pytest.mark.parametrize("name", ["performance_200.json.http", "performance_200.xml.http"])
def test_documented_rate_limit_headers_set_the_pacer_budget(name):
    _, headers, _ = http_example(name)
    pacer = RateLimitPacer(150, 900, clock=lambda: 1519660000.0, sleep=lambda s: None)
    answer = requests.Response()
    answer.status_code = 200
    answer.headers.update(headers)
    pacer.wait_turn()
    pacer.observe(answer)
    assert pacer.remaining == int(headers["X-RateLimit-Remaining"])  # 149, then 148
    assert pacer.reset_at == 1519660800


@pytest.mark.parametrize("name", ["error_400.json.http", "error_400.xml.http"])
def test_documented_400_bodies_give_the_vendor_message(name):
    status, headers, body = http_example(name)
    assert status == 400
    # the XML example is labelled application/json: the body is what counts
    assert headers["Content-Type"] == "application/json"
    assert describe_error(status, body) == "Invalid start parameter."


def test_a_missing_metric_or_period_leaves_nulls_and_never_shifts_values():
    series = {
        "calls": {"1517461200": 5, "1517634000": 7},
        "average_page_load": {"1517547600": 0.1, "1517634000": "0.2"},
        "queue_time": {"1517461200": 9},  # a metric this tap does not know: ignored
    }
    rows = list(unpivot(series))
    assert [(r["period_start"], r["calls"], r["average_page_load"]) for r in rows] == [
        ("2018-02-01T05:00:00+00:00", 5, None),
        ("2018-02-02T05:00:00+00:00", None, 0.1),
        ("2018-02-03T05:00:00+00:00", 7, 0.2),
    ]
    assert all(r["js_errors"] is None and r["fetch_errors_per_call"] is None for r in rows)
    assert "queue_time" not in rows[0]


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"calls":[],"js_errors":[]}', b'<?xml version="1.0"?>\n<result>\n</result>\n'],
)
def test_empty_reports_have_no_rows(body):
    assert list(parse_performance(io.BytesIO(body))) == []


def test_xml_is_recognised_by_its_first_byte_after_whitespace():
    xml = b'\n  <result><calls><item timestamp="1517461200">3</item></calls></result>'
    assert [r["calls"] for r in parse_performance(io.BytesIO(xml))] == [3]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"calls":{"1517461200":"many"}}', "calls at 1517461200: expected an integer"),
        (b'{"calls":{"yesterday":1}}', "'yesterday' is not a Unix timestamp"),
        (b'{"calls":5}', "calls: expected an object keyed by timestamp"),
        (b'{"calls":{"1517461200":1}', "not JSON"),
        (b"<result><calls><item>1</item></calls></result>", "without a timestamp"),
        (b'<result><calls><item timestamp="1">1</calls>', "not well-formed XML"),
        (b'{"error":"Invalid end parameter."}', "Invalid end parameter."),
    ],
)
def test_unreadable_bodies_are_parse_errors(body, message):
    with pytest.raises(ParseError, match=message):
        list(parse_performance(io.BytesIO(body)))


@pytest.mark.parametrize(
    "head",
    [
        b'{"error":"Invalid start parameter."}',
        b'<?xml version="1.0"?>\n<result>\n  <error>Invalid start parameter.</error>\n</result>',
    ],
)
def test_an_error_body_inside_a_200_is_refused(head):
    with pytest.raises(PermanentError, match=r"error: Invalid start parameter\.$"):
        check_body(head)


def test_a_report_body_is_not_mistaken_for_an_error():
    for name in ("performance_200.json.http", "performance_200.xml.http"):
        check_body(http_example(name)[2][:4096])


# Windows


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_day_windows_are_a_year_wide():
    windows = period_windows(d("2023-01-01"), d("2025-06-30"), "day", MAX_WINDOW_DAYS)
    assert windows == [
        Window(d("2023-01-01"), d("2024-01-01")),
        Window(d("2024-01-02"), d("2025-01-01")),
        Window(d("2025-01-02"), d("2025-06-30")),
    ]
    assert all(w.days <= MAX_WINDOW_DAYS for w in windows)


def test_week_windows_start_on_the_monday_of_the_first_day_and_hold_whole_weeks():
    # 2026-11-19 is a Thursday: its week started on Monday 2026-11-16
    windows = period_windows(d("2026-11-19"), d("2028-01-05"), "week", MAX_WINDOW_DAYS)
    assert windows == [
        Window(d("2026-11-16"), d("2027-11-14")),  # 52 weeks
        Window(d("2027-11-15"), d("2028-01-05")),  # ends inside an unfinished week
    ]
    assert all(w.start.weekday() == 0 for w in windows)


def test_month_windows_hold_twelve_whole_months():
    windows = period_windows(d("2024-02-29"), d("2025-03-10"), "month", MAX_WINDOW_DAYS)
    assert windows == [
        Window(d("2024-02-01"), d("2025-01-31")),
        Window(d("2025-02-01"), d("2025-03-10")),
    ]


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_nothing_to_plan_when_no_day_is_new(period):
    # 2026-01-28 (a Wednesday) was extracted last: its week and month are not over,
    # but without a new day there is nothing new to ask for
    assert period_windows(d("2026-01-29"), d("2026-01-28"), period, MAX_WINDOW_DAYS) == []
