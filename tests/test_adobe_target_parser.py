"""Adobe Target parsing without HTTP: the documented examples byte for byte, and repairs.

The documented sample start is literally `YYYY-08-01T00:00` (a placeholder year). The
verbatim fixture is read untyped (every value it shows, as text) and typing it fails
with a ParseError naming the field; a copy with the year 2026 substituted, and nothing
else changed, is read typed.
"""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc

import pytest

from tap_perfreports.errors import ParseError, PermanentError, TransientError
from tap_perfreports.vendors import adobe_target as at
from tests.helpers import doc_text, fixture_bytes

pytestmark = pytest.mark.unit

DOC = "adobe-target-performance-report.md"
REPORT = fixture_bytes("adobe_target", "doc_report.xml")
ERROR = fixture_bytes("adobe_target", "doc_error.xml")
GRAIN = {
    "campaign_id": "7",
    "metric_type": "visitor",
    "segment_id": "0",
    "segment_name": "Segment 1",
    "sample_start": "YYYY-08-01T00:00",
    "duration": "day",
    "recipe_name": "Experience A",
}
STEPS = [
    ("Entry", "476.0"),
    ("Visits", "370.0"),
    ("Display mboxes", "476.0"),
    ("Time on Site", "1117.0"),
    ("Page Count", "1117.0"),
    ("Score", "1100.0"),
    ("Global Mbox", "1100.0"),
    ("Clicked Article", "255.0"),
]
ENGAGEMENT = [
    ("Page Count", "190", "558.00000", "4382.00000"),
    ("Time on Site", "211", "44773.42500", "43287221.65236"),
    ("Score", "207", "117.00000", "843.00000"),
]


def read(body: bytes, chunk: int = 1 << 16) -> tuple[list[at.Row], list[str]]:
    reader = at.ReportReader(body[i : i + chunk] for i in range(0, len(body), chunk))
    return list(reader.rows()), reader.problems


def rows_of(rows: list[at.Row], stream: str) -> list[dict]:
    return [row for name, row in rows if name == stream]


@pytest.mark.parametrize("name", ["doc_report.xml", "doc_error.xml"])
def test_fixtures_are_the_documentation_examples_verbatim(name):
    text = fixture_bytes("adobe_target", name).decode()
    assert text in doc_text(DOC)
    assert len(text.splitlines()) >= 4


def test_the_malformed_documentation_example_yields_every_value_it_shows():
    rows, problems = read(REPORT)
    assert rows_of(rows, "adobe_target_steps") == [
        {**GRAIN, "step_name": name, "step_position": index, "value": value}
        for index, (name, value) in enumerate(STEPS, start=1)
    ]
    assert rows_of(rows, "adobe_target_recipes") == [
        {**GRAIN, "is_summary": False, "amount": "121.13"}
    ]
    assert rows_of(rows, "adobe_target_engagement") == [
        {**GRAIN, "step_name": n, "count": c, "total": tot, "sum_of_squares": sq}
        for n, c, tot, sq in ENGAGEMENT
    ]
    # both malformations were noticed: three glued attributes and the </steps> tag
    assert problems[0] == "3 attribute(s) without a separating space"
    assert "steps" in problems[1]
    # the two abbreviated reports ("." placeholders) have no sample: no rows
    assert len(rows) == 8 + 1 + 3


@pytest.mark.parametrize("chunk", [1, 7, 50, 1 << 16])
def test_chunk_boundaries_do_not_change_the_result(chunk):
    assert read(REPORT, chunk) == read(REPORT)


def test_the_placeholder_year_is_a_clear_parse_error_when_typed():
    rows, _ = read(REPORT)
    with pytest.raises(ParseError, match="sample_start: expected a date-time, got 'YYYY-08-01"):
        at.typed(*rows[0])


def test_with_a_real_year_the_example_becomes_typed_rows():
    rows, _ = read(REPORT.replace(b'"YYYY-', b'"2026-'))
    typed = [(name, at.typed(name, row)) for name, row in rows]
    grain = {
        **GRAIN,
        "campaign_id": 7,
        "sample_start": "2026-08-01T00:00:00+00:00",
    }
    steps = rows_of(typed, "adobe_target_steps")
    assert steps[0] == {**grain, "step_name": "Entry", "step_position": 1, "value": 476.0}
    assert [(s["step_name"], s["value"]) for s in steps] == [(n, float(v)) for n, v in STEPS]
    assert rows_of(typed, "adobe_target_recipes") == [
        {**grain, "is_summary": False, "amount": 121.13}
    ]
    engagement = rows_of(typed, "adobe_target_engagement")
    assert [(e["step_name"], e["count"], e["total"], e["sum_of_squares"]) for e in engagement] == [
        ("Page Count", 190, 558.0, 4382.0),
        ("Time on Site", 211, 44773.425, 43287221.65236),
        ("Score", 207, 117.0, 843.0),
    ]
    assert all(isinstance(e["count"], int) for e in engagement)


def test_the_aggregate_report_gets_the_fixed_segment_key():
    body = (
        b'<reports><report campaignId="9" type="visit"><sample start="2026-01-02T00:00" '
        b'duration="day"><recipe name="Campaign"><step name="Entry">3.0</step>'
        b"<amount>1.5</amount></recipe></sample></report></reports>"
    )
    rows, problems = read(body)
    assert problems == []
    recipe = at.typed(*rows[1])
    assert recipe["segment_id"] == "aggregate"
    assert recipe["segment_name"] is None
    assert recipe["is_summary"] is True
    assert recipe["amount"] == 1.5


def test_the_documented_error_body_is_an_error_at_any_status():
    assert at.vendor_error(ERROR) == (
        401,
        "Invalid email or password supplied. Email: my_email@abc.com",
    )
    with pytest.raises(PermanentError) as refused:
        at.check_body(ERROR)
    assert "check client, email and password" in refused.value.hint.lower()
    with pytest.raises(TransientError):
        at.check_body(b"<error><message>Busy</message><code>503</code></error>")
    with pytest.raises(ParseError, match="error 401"):
        read(ERROR)
    at.check_body(REPORT[:4096])  # a report is not an error


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>Bad gateway</body></html>", b"not xml at all"],
)
def test_a_body_that_is_not_a_report_is_a_parse_error(body):
    with pytest.raises(ParseError):
        read(body)


def test_spacing_repair_leaves_well_formed_tags_and_text_alone():
    spacer = at.AttributeSpacer()
    text = b'<a x="1" y="2">say "hi"there</a><b p="1"q="2"/>'
    fixed = spacer.feed(text[:20]) + spacer.feed(text[20:]) + spacer.flush()
    assert fixed == b'<a x="1" y="2">say "hi"there</a><b p="1" q="2"/>'
    assert spacer.repairs == 1


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_samples():
    def body(samples: int) -> bytes:
        sample = (
            b'<sample start="2026-01-01T00:00" duration="hour"><recipe name="A">'
            + b'<step name="Entry">1.0</step>' * 5
            + b"<amount>1</amount></recipe></sample>\n"
        )
        return (
            b'<reports><report campaignId="1" type="visit">'
            + sample * samples
            + b"</report></reports>"
        )

    def peak(samples: int) -> int:
        data = body(samples)
        tracemalloc.start()
        reader = at.ReportReader(at.read_chunks(io.BytesIO(data)))
        count = sum(1 for _ in reader.rows())
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == samples * 6
        return top

    assert peak(40_000) < 2 * peak(4_000)


@pytest.mark.parametrize(
    "body",
    [
        b'<reports><report campaignId="1" type="visit"><step name="x">1</step></report></reports>',
        b'<reports><sample start="2026-01-01T00:00" duration="day"/></reports>',
        b'<reports><report campaignId="1" type="visit"><recipe name="A"/></report></reports>',
    ],
    ids=["step-outside-recipe", "sample-outside-report", "recipe-outside-sample"],
)
def test_an_element_out_of_place_is_a_parse_error(body):
    with pytest.raises(ParseError, match="outside a <"):
        read(body)


@pytest.mark.parametrize(
    ("resolution", "first", "end", "expected"),
    [
        ("day", "2026-01-01", "2026-03-01", [("01-01", "01-31"), ("02-01", "03-01")]),
        (
            "hour",
            "2026-01-01",
            "2026-01-05",
            [("01-01", "01-02"), ("01-03", "01-04"), ("01-05", "01-05")],
        ),
        # weeks start on Monday: a Wednesday start is pulled from its Monday
        ("week", "2026-01-07", "2026-05-01", [("01-05", "04-05"), ("04-06", "05-01")]),
        ("month", "2026-01-15", "2026-03-02", [("01-01", "03-02")]),
    ],
)
def test_windows_are_sized_to_the_resolution(resolution, first, end, expected):
    windows = at.report_windows(
        dt.date.fromisoformat(first), dt.date.fromisoformat(end), resolution
    )
    assert [(f"{w.start:%m-%d}", f"{w.end:%m-%d}") for w in windows] == expected


def test_month_windows_hold_whole_years_of_months():
    windows = at.report_windows(dt.date(2025, 3, 9), dt.date(2026, 7, 31), "month")
    assert [(w.start, w.end) for w in windows] == [
        (dt.date(2025, 3, 1), dt.date(2026, 2, 28)),
        (dt.date(2026, 3, 1), dt.date(2026, 7, 31)),
    ]


def test_a_body_cut_off_is_a_parse_error_not_a_short_report():
    whole = REPORT.replace(b'"YYYY-', b'"2026-')
    assert len(read(whole)[0]) == 12
    for cut in (200, len(whole) // 2, len(whole) - 5):
        with pytest.raises(ParseError, match="cut off"):
            read(whole[:cut])


def test_a_body_cut_off_right_after_a_self_closing_tag_is_a_parse_error():
    whole = REPORT.replace(b'"YYYY-', b'"2026-')
    ends = [i + 2 for i in range(len(whole)) if whole.startswith(b"/>", i)]
    assert len(ends) == 3  # the three engagement elements
    for cut in ends:
        with pytest.raises(ParseError, match="cut off"):
            read(whole[:cut])
    assert read(b"<reports/>") == ([], [])


def report_of(campaign: str, metric_type: str, extra: bytes = b"") -> bytes:
    return (
        f'<report campaignId="{campaign}" type="{metric_type}" resolution="day"'.encode()
        + extra
        + b'><sample start="2026-01-02T00:00" duration="day"><recipe name="A">'
        b'<step name="Entry">3.0</step><amount>1.5</amount></recipe></sample></report>'
    )


def read_asked(
    body: bytes, campaign: str = "7", metric_type: str = "visit"
) -> tuple[list[dict], list[str]]:
    """Rows (of every stream) and skipped report types, for a request of one campaign/type."""
    reader = at.ReportReader([body], {"campaign_id": campaign, "metric_type": metric_type})
    return [row for _, row in reader.rows()], reader.skipped


def test_reports_of_another_type_than_requested_are_skipped_and_noted():
    body = b"<reports>" + report_of("7", "visitor") + report_of("7", "visit") + b"</reports>"
    rows, skipped = read_asked(body)
    assert [row["metric_type"] for row in rows] == ["visit", "visit"]  # one step, one recipe
    assert skipped == ["visitor"]


def test_a_report_of_another_campaign_is_a_parse_error():
    with pytest.raises(ParseError, match="campaignId=8 answers campaignId=7"):
        read_asked(b"<reports>" + report_of("8", "visit") + b"</reports>")


def test_attributes_a_report_leaves_out_come_from_the_request_and_its_resolution():
    body = (
        b'<reports><report resolution="week"><sample start="2026-01-05T00:00">'
        b'<recipe name="A"><step name="Entry">3.0</step></recipe></sample></report></reports>'
    )
    step = read_asked(body, "11", "impression")[0][0]
    assert (step["campaign_id"], step["metric_type"], step["duration"]) == (
        "11",
        "impression",
        "week",
    )


def test_an_error_body_is_read_whatever_the_order_of_its_children():
    assert at.vendor_error(b"<error><code>401</code><message>Bad login</message></error>") == (
        401,
        "Bad login",
    )
    assert at.vendor_error(b"<error><message>Odd</message></error>") == (None, "Odd")
    with pytest.raises(PermanentError, match="an error: Odd"):
        at.check_body(b"<error><message>Odd</message></error>")
    assert at.vendor_error(b"<errors/>") is None


def test_the_code_in_an_error_body_decides_over_the_http_status():
    with pytest.raises(PermanentError) as refused:
        at.describe_error(500, ERROR)
    assert "check client, email and password" in refused.value.hint.lower()
    with pytest.raises(TransientError):
        at.describe_error(400, b"<error><message>Busy</message><code>503</code></error>")
    assert at.describe_error(401, ERROR).endswith("my_email@abc.com (code 401)")


def test_content_after_the_root_is_a_parse_error_not_a_silent_loss():
    second = report_of("7", "visit").replace(b"2026-01-02", b"2026-01-03")
    with pytest.raises(ParseError, match="content after </report>"):
        read(report_of("7", "visit") + second)
    assert len(read(report_of("7", "visit") + b"\n<!-- end -->\n")[0]) == 2


@pytest.mark.parametrize(
    ("code", "message", "throttled"),
    [
        (429, "Try again later.", True),
        (403, "API request limit exceeded: 50 requests per 60 seconds per account.", True),
        (503, "Request throttled.", True),
        (None, "Rate limit reached", True),
        (500, "Too many requests, slow down", True),
        (503, "Busy", False),
        (401, "Invalid email or password supplied.", False),
        (400, "Unknown resolution minute.", False),
    ],
)
def test_a_throttle_is_told_by_its_code_or_its_message(code, message, throttled):
    assert at.is_throttle(code, message) is throttled


def test_a_throttled_body_is_a_wait_for_the_pacer_at_any_status():
    """`<error>` bodies saying so pause every request for a window: 200, 403, 503 alike."""
    from tap_perfreports.pacing import SlidingWindowPacer

    now = [1000.0]
    pacer = SlidingWindowPacer(50, 60.0, clock=lambda: now[0], sleep=lambda s: None)
    body = b"<error><message>API request limit exceeded</message><code>403</code></error>"
    with pytest.raises(TransientError, match="throttled the request: API request limit") as wait:
        at.check_body(body, pacer)
    assert wait.value.wait_seconds == 61.0
    now[0] += 10.0
    with pytest.raises(TransientError) as wait:
        at.describe_error(503, body, pacer)  # the pause restarts from this answer
    assert wait.value.wait_seconds == 61.0
    # a 429 was seen by the pacer already (observe): its pause is not started again
    now[0] += 10.0
    with pytest.raises(TransientError) as wait:
        at.describe_error(429, b"<error><message>Slow</message><code>429</code></error>", pacer)
    assert wait.value.wait_seconds == 51.0
    assert pacer.throttles == 2
    # the documented login error stays a failure
    with pytest.raises(PermanentError):
        at.check_body(ERROR, pacer)


def test_windows_are_sent_half_open_ending_at_the_first_minute_after_them():
    """Adobe writes August as start=2007-08-01T00:00&end=2007-09-01T00:00."""
    august = at.Window(dt.date(2007, 8, 1), dt.date(2007, 8, 31))
    assert at.request_range(august) == [("start", "2007-08-01T00:00"), ("end", "2007-09-01T00:00")]
    year_end = at.Window(dt.date(2026, 12, 30), dt.date(2026, 12, 31))
    assert at.request_range(year_end)[1] == ("end", "2027-01-01T00:00")
