"""Mintegral's pure logic: token, clock, windows, codes, polling, completeness, config."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from tap_perfreports.errors import ConfigError, ParseError
from tap_perfreports.http import Backoff
from tap_perfreports.settings import validate_vendor
from tap_perfreports.vendors import mintegral as m
from tap_perfreports.windows import Window

pytestmark = pytest.mark.unit

PLUS8 = dt.timezone(dt.timedelta(hours=8))
D = dt.date


def test_token_is_md5_of_api_key_and_md5_of_timestamp():
    # by hand: printf 1650270348 | md5sum -> 9f4ba8034f4f47684e8adfa400289d7e
    #          printf my-api-key9f4ba8034f4f47684e8adfa400289d7e | md5sum
    assert m.mintegral_token("my-api-key", 1650270348) == "7d9323123e498ce87ce4c2d67a639e3f"


def test_auth_headers_carry_key_timestamp_and_a_token_bound_to_that_timestamp():
    first = m.auth_headers("access", "secret", 1_700_000_000)
    later = m.auth_headers("access", "secret", 1_700_000_001)
    assert first == {
        "access-key": "access",
        "timestamp": "1700000000",
        "token": m.mintegral_token("secret", 1_700_000_000),
    }
    assert first["token"] != later["token"]


@pytest.mark.parametrize(
    ("text", "hours"), [("+8", 8), ("-5", -5), ("0", 0), ("+5.5", 5.5), ("14", 14)]
)
def test_timezone_offsets(text, hours):
    assert m.parse_timezone(text).utcoffset(None) == dt.timedelta(hours=hours)


@pytest.mark.parametrize("text", ["Asia/Shanghai", "+15", "8h", "", "+8.25"])
def test_timezone_rejects_what_the_api_does_not_take(text):
    with pytest.raises(ValueError, match=r"offset|outside"):
        m.parse_timezone(text)


def test_a_day_is_ready_after_03_00_the_next_day_in_the_account_zone():
    """The newer page: a day's data takes 2-4 hours, pull after 03:00 the next day."""
    before = dt.datetime(2024, 8, 2, 2, 59, tzinfo=PLUS8)
    after = dt.datetime(2024, 8, 2, 3, 0, tzinfo=PLUS8)
    assert m.latest_complete_day(before, PLUS8) == D(2024, 7, 31)
    assert m.latest_complete_day(after, PLUS8) == D(2024, 8, 1)
    # 01:30, ready by our older page, is no longer enough
    assert m.latest_complete_day(dt.datetime(2024, 8, 2, 1, 30, tzinfo=PLUS8), PLUS8) == D(
        2024, 7, 31
    )
    # 20:00 UTC on Aug 1 is already 04:00 on Aug 2 in +8
    assert m.latest_complete_day(dt.datetime(2024, 8, 1, 20, tzinfo=dt.UTC), PLUS8) == D(2024, 8, 1)
    assert m.default_end_date(dt.datetime(2024, 8, 1, 20, tzinfo=dt.UTC), {}) == D(2024, 8, 1)
    # in the configured report timezone -5 it is still 15:00 on Aug 1: Jul 31 is the last
    later_zone = {"timezone": "-5"}
    assert m.default_end_date(dt.datetime(2024, 8, 1, 20, tzinfo=dt.UTC), later_zone) == D(
        2024, 7, 31
    )


def test_hourly_data_is_ready_two_and_a_half_hours_after_the_hour():
    """The day's last hour (23:00-24:00) is ready at 02:30 the next day."""
    before = dt.datetime(2024, 8, 2, 2, 29, tzinfo=PLUS8)
    after = dt.datetime(2024, 8, 2, 2, 30, tzinfo=PLUS8)
    assert m.latest_complete_day(before, PLUS8, "hourly") == D(2024, 7, 31)
    assert m.latest_complete_day(after, PLUS8, "hourly") == D(2024, 8, 1)
    assert m.ready_at(D(2024, 8, 1), PLUS8, "hourly") == after
    assert m.ready_at(D(2024, 8, 1), PLUS8) == dt.datetime(2024, 8, 2, 3, 0, tzinfo=PLUS8)


@pytest.mark.parametrize(
    ("granularities", "end"),
    [
        ((), D(2024, 7, 31)),  # the default report is daily
        (("hourly",), D(2024, 8, 1)),
        (("hourly", "daily"), D(2024, 7, 31)),  # ready for every report
    ],
)
def test_the_default_end_date_is_the_last_day_ready_for_every_report(granularities, end):
    at_0245 = dt.datetime(2024, 8, 2, 2, 45, tzinfo=PLUS8)
    reports = [
        {"name": f"r{n}", "dimensions": ["Offer"], "time_granularity": granularity}
        for n, granularity in enumerate(granularities)
    ]
    assert m.default_end_date(at_0245, {"reports": reports}) == end


def test_when_the_api_does_not_say_the_later_ready_time_decides():
    """No `is_complete`: the clock decides, with the report's own ready time."""
    window = Window(D(2024, 7, 26), D(2024, 8, 1))
    silent = m.Answer(200, "success", hours=None, is_complete=None)
    at_0245 = dt.datetime(2024, 8, 2, 2, 45, tzinfo=PLUS8)
    daily = m.latest_complete_day(at_0245, PLUS8, "daily")
    hourly = m.latest_complete_day(at_0245, PLUS8, "hourly")
    assert m.last_complete_day(window, silent, daily) == D(2024, 7, 31)
    assert m.last_complete_day(window, silent, hourly) == D(2024, 8, 1)
    # and is_complete, when given, is the authority either way
    complete = m.Answer(200, "success", hours=168, is_complete=True)
    assert m.last_complete_day(window, complete, daily) == D(2024, 8, 1)
    incomplete = m.Answer(200, "success", hours=168, is_complete=False)
    late = m.latest_complete_day(dt.datetime(2024, 8, 3, 12, tzinfo=PLUS8), PLUS8)
    assert m.last_complete_day(window, incomplete, late) == D(2024, 7, 31)


def test_earliest_day_is_180_days_before_today_in_the_account_zone():
    now = dt.datetime(2024, 8, 1, 17, tzinfo=dt.UTC)  # Aug 2, 01:00 in +8
    assert m.earliest_available_day(now, PLUS8) == D(2024, 8, 2) - dt.timedelta(days=180)


def test_plan_splits_into_windows_of_at_most_seven_days():
    windows, skipped = m.plan_jobs(D(2024, 1, 1), D(2024, 6, 28), D(2023, 1, 1))
    assert skipped is None
    assert len(windows) == 26  # 180 days
    assert all(w.days <= 7 for w in windows)
    assert windows[0].start == D(2024, 1, 1)
    assert windows[-1] == Window(D(2024, 6, 24), D(2024, 6, 28))
    assert all(a.end + dt.timedelta(days=1) == b.start for a, b in itertools.pairwise(windows))


def test_plan_clamps_to_the_half_year_and_names_what_it_skipped():
    windows, skipped = m.plan_jobs(D(2024, 1, 1), D(2024, 3, 10), D(2024, 3, 1))
    assert skipped == Window(D(2024, 1, 1), D(2024, 2, 29))
    assert windows == [Window(D(2024, 3, 1), D(2024, 3, 7)), Window(D(2024, 3, 8), D(2024, 3, 10))]


def test_plan_of_a_range_entirely_too_old_is_empty():
    windows, skipped = m.plan_jobs(D(2024, 1, 1), D(2024, 1, 5), D(2024, 3, 1))
    assert windows == []
    assert skipped == Window(D(2024, 1, 1), D(2024, 1, 5))


def test_plan_reuses_windows_still_in_flight_so_the_same_jobs_are_polled():
    # bookmark Jan 14 with lookback 2: start Jan 13; Jan 15..21 and 22..28 were in flight
    in_flight = [Window(D(2024, 1, 22), D(2024, 1, 28)), Window(D(2024, 1, 15), D(2024, 1, 21))]
    windows, _ = m.plan_jobs(D(2024, 1, 13), D(2024, 2, 6), D(2023, 1, 1), in_flight)
    assert windows == [
        Window(D(2024, 1, 13), D(2024, 1, 14)),
        Window(D(2024, 1, 15), D(2024, 1, 21)),
        Window(D(2024, 1, 22), D(2024, 1, 28)),
        Window(D(2024, 1, 29), D(2024, 2, 4)),
        Window(D(2024, 2, 5), D(2024, 2, 6)),
    ]


def test_plan_ignores_in_flight_windows_outside_or_across_the_range():
    in_flight = [
        Window(D(2024, 1, 1), D(2024, 1, 7)),  # before start
        Window(D(2024, 1, 12), D(2024, 1, 18)),  # across start
        Window(D(2024, 1, 28), D(2024, 2, 3)),  # across end
        Window(D(2024, 1, 20), D(2024, 1, 29)),  # longer than the API allows
    ]
    windows, _ = m.plan_jobs(D(2024, 1, 15), D(2024, 1, 30), D(2023, 1, 1), in_flight)
    assert windows == [
        Window(D(2024, 1, 15), D(2024, 1, 21)),
        Window(D(2024, 1, 22), D(2024, 1, 28)),
        Window(D(2024, 1, 29), D(2024, 1, 30)),
    ]


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (200, m.Action.READY),
        (201, m.Action.WAIT),
        (202, m.Action.WAIT),
        (203, m.Action.RESUBMIT),
        (204, m.Action.WAIT),
        (205, m.Action.WAIT),
        (10000, m.Action.FAIL),
        (500, m.Action.FAIL),
        (0, m.Action.FAIL),
    ],
)
def test_every_documented_code_maps_to_an_action(code, action):
    assert m.action_for(code) is action


def test_poll_schedule_starts_short_grows_and_is_capped():
    schedule = Backoff(first_seconds=2, factor=2, cap_seconds=30)
    delays = [schedule.wait(n) for n in range(1, 8)]
    assert delays == [2, 4, 8, 16, 30, 30, 30]
    production = m.POLLS
    assert production.wait(1) < production.wait(3) < production.wait(50) == 60


def test_answer_reads_hours_and_completeness_beside_data_too():
    answer = m.parse_answer(b'{"code": 200, "msg": "ok", "hours": "12", "is_complete": "FALSE"}')
    assert answer == m.Answer(200, "ok", 12, False)


def test_answer_keeps_the_detail_of_an_error_in_data():
    answer = m.parse_answer(b'{"code": 10000, "msg": "Parameter error", "data": "bad end_time"}')
    assert (answer.code, answer.message) == (10000, "Parameter error: bad end_time")
    assert m.describe_error(401, b'{"code": 401, "msg": "token is invalid"}') == "token is invalid"
    assert m.describe_error(502, b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"


@pytest.mark.parametrize("body", [b"", b"<html>", b"[1]", b'{"msg": "no code"}'])
def test_answers_without_a_code_are_parse_errors(body):
    with pytest.raises(ParseError):
        m.parse_answer(body)


WEEK = Window(D(2024, 6, 1), D(2024, 6, 7))


def test_a_complete_window_is_final_to_its_end():
    assert m.last_complete_day(WEEK, m.Answer(200, "", 168, True), D(2024, 5, 1)) == WEEK.end


def test_an_incomplete_window_is_final_up_to_the_clocks_last_complete_day():
    answer = m.Answer(200, "", 156, False)  # today, Jun 7, has 12 hours
    assert m.last_complete_day(WEEK, answer, D(2024, 6, 6)) == D(2024, 6, 6)


def test_an_incomplete_window_never_counts_its_last_day_even_if_the_clock_would():
    answer = m.Answer(200, "", None, False)
    assert m.last_complete_day(WEEK, answer, D(2024, 6, 30)) == D(2024, 6, 6)


def test_hours_bound_the_final_days_of_an_incomplete_window():
    answer = m.Answer(200, "", 50, False)  # two whole days, then two hours
    assert m.last_complete_day(WEEK, answer, D(2024, 6, 30)) == D(2024, 6, 2)


def test_an_incomplete_window_with_nothing_final_returns_the_day_before_it():
    answer = m.Answer(200, "", 3, False)
    assert m.last_complete_day(WEEK, answer, D(2024, 5, 20)) == D(2024, 5, 31)


def test_without_is_complete_the_clock_decides():
    answer = m.Answer(200, "")
    assert m.last_complete_day(WEEK, answer, D(2024, 6, 30)) == WEEK.end
    assert m.last_complete_day(WEEK, answer, D(2024, 6, 3)) == D(2024, 6, 3)


def test_default_report_columns_keys_and_schema():
    report = m.MintegralReport.from_spec(m.DEFAULT_REPORTS[0])
    assert report.dimensions == ("Offer", "Campaign", "Location")
    assert report.primary_keys() == ["date", "offer_id", "campaign_id", "location", "currency"]
    schema = report.schema()["properties"]
    assert list(schema) == [
        "date", "offer_id", "offer_uuid", "offer_name", "campaign_id", "location", "currency",
        "impression", "click", "conversion", "ecpm", "cpc", "ctr", "cvr", "ivr", "spend",
    ]  # fmt: skip
    assert schema["date"] == {"type": ["string"], "format": "date"}
    assert schema["offer_id"] == {"type": ["integer"]}
    assert schema["offer_name"] == {"type": ["string", "null"]}
    assert schema["currency"] == {"type": ["string"]}
    assert schema["spend"] == {"type": ["number", "null"]}


def test_hourly_report_keys_on_the_timestamp_and_orders_dimensions_as_documented():
    report = m.MintegralReport.from_spec(
        {"name": "x", "dimensions": ["Location", "Sub"], "time_granularity": "hourly"}
    )
    assert report.dimensions == ("Sub", "Location")
    assert report.primary_keys() == ["date", "timestamp", "sub_id", "location", "currency"]
    schema = report.schema()["properties"]
    assert schema["timestamp"] == {"type": ["integer"]}
    assert list(schema) == [
        "date",
        "timestamp",
        "sub_id",
        "location",
        "currency",
        *m.METRIC_COLUMNS,
    ]


SETTINGS = {"access_key": "a", "api_key": "b"}


@pytest.mark.parametrize(
    ("dimensions", "granularity", "rule"),
    [
        (["Creative", "Sub"], "daily", "Creative cannot be combined with Sub"),
        (["Package", "Creative"], "daily", "Creative cannot be combined with Package"),
        (["Offer", "Creative"], "hourly", "Creative cannot be combined with time_granularity"),
        (["Endcard", "Sub"], "daily", "Endcard cannot be combined with Sub"),
        (["Endcard", "Package"], "daily", "Endcard cannot be combined with Package"),
        (["Endcard"], "hourly", "Endcard cannot be combined with time_granularity hourly"),
    ],
)
def test_config_rejects_the_combinations_the_docs_forbid(dimensions, granularity, rule):
    report = {"name": "bad", "dimensions": dimensions, "time_granularity": granularity}
    with pytest.raises(ConfigError, match=rule) as caught:
        m.validate({**SETTINGS, "reports": [report]})
    assert caught.value.setting == "mintegral.reports[bad].dimensions"


def test_config_accepts_the_allowed_neighbours_of_forbidden_combinations():
    reports = [
        {"name": "a", "dimensions": ["Creative", "Endcard", "Offer", "Location"]},
        {"name": "b", "dimensions": ["Sub", "Package"], "time_granularity": "hourly"},
    ]
    m.validate({**SETTINGS, "reports": reports})


@pytest.mark.parametrize(
    ("settings", "setting", "rule"),
    [
        ({"api_key": "b"}, "mintegral.access_key", "required"),
        ({"access_key": "a"}, "mintegral.api_key", "required"),
        ({**SETTINGS, "timezone": "Asia/Shanghai"}, "mintegral.timezone", "offset"),
        (
            {**SETTINGS, "reports": [{"name": "a", "dimensions": ["Offer"]}] * 2},
            "mintegral.reports",
            "name 'a' is listed twice",
        ),
        (
            {**SETTINGS, "reports": [{"name": "a", "dimensions": ["Offers"]}]},
            "mintegral.reports[a].dimensions",
            "'Offers' is not one of",
        ),
        (
            {**SETTINGS, "reports": [{"name": "a", "dimensions": []}]},
            "mintegral.reports[a].dimensions",
            "at least one",
        ),
    ],
)
def test_config_errors_name_the_setting(settings, setting, rule):
    with pytest.raises(ConfigError, match=rule) as caught:
        validate_vendor(m.VENDOR, settings)
    assert caught.value.setting == setting
