"""CityGrid's pure logic: the Pacific 9 p.m. reporting day, preset ranges and preset choice."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_perfreports.errors import ParseError
from tap_perfreports.sandbox import citygrid as emulator
from tap_perfreports.vendors.citygrid import (
    PRESETS,
    CalendarMismatch,
    PresetPlan,
    PresetRequest,
    Report,
    ReportingDayLags,
    choose_presets,
    kept_rows,
    latest_complete_day,
    preset_range,
    reported_days,
    reporting_today,
)
from tap_perfreports.windows import Window

pytestmark = pytest.mark.unit

D = dt.date.fromisoformat


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


# The reporting day: D covers D-1 21:00 .. D 21:00 America/Los_Angeles.


def test_the_docs_example_noon_friday_yesterday_is_thursday():
    noon_friday = dt.datetime(2026, 11, 20, 12, tzinfo=emulator.PACIFIC)  # a Friday
    assert noon_friday.strftime("%A") == "Friday"
    assert latest_complete_day(noon_friday) == D("2026-11-19")


@pytest.mark.parametrize(
    ("moment", "yesterday"),
    [
        # winter (PST, UTC-8): 21:00 Pacific = 05:00 UTC
        ("2026-01-15T04:59:59", "2026-01-13"),
        ("2026-01-15T05:00:00", "2026-01-14"),
        # summer (PDT, UTC-7): 21:00 Pacific = 04:00 UTC
        ("2026-07-15T03:59:59", "2026-07-13"),
        ("2026-07-15T04:00:00", "2026-07-14"),
        # March change (2026-03-08 02:00 PST -> 03:00 PDT)
        ("2026-03-08T04:59:59", "2026-03-06"),  # Sat 7th 20:59 PST
        ("2026-03-08T05:00:00", "2026-03-07"),  # Sat 7th 21:00 PST
        ("2026-03-09T03:59:59", "2026-03-07"),  # Sun 8th 20:59 PDT: 23-hour day not over
        ("2026-03-09T04:00:00", "2026-03-08"),  # Sun 8th 21:00 PDT
        # November change (2026-11-01 02:00 PDT -> 01:00 PST)
        ("2026-11-01T03:59:59", "2026-10-30"),  # Sat Oct 31st 20:59 PDT
        ("2026-11-01T04:00:00", "2026-10-31"),  # Sat Oct 31st 21:00 PDT
        ("2026-11-02T04:00:00", "2026-10-31"),  # Sun 1st 20:00 PST: 25-hour day not over
        ("2026-11-02T04:59:59", "2026-10-31"),
        ("2026-11-02T05:00:00", "2026-11-01"),  # Sun 1st 21:00 PST
    ],
)
def test_a_reporting_day_is_complete_at_9pm_pacific(moment, yesterday):
    assert latest_complete_day(utc(moment)) == D(yesterday)
    assert reporting_today(utc(moment)) == D(yesterday) + dt.timedelta(days=1)


def test_tap_and_sandbox_agree_on_the_reporting_day_every_quarter_hour_for_a_year():
    moment = utc("2026-01-01T00:00:00")
    while moment.year == 2026:
        assert reporting_today(moment) == emulator.current_reporting_day(moment), moment
        moment += dt.timedelta(minutes=15)


# Preset ranges


def test_preset_ranges_on_a_known_day():
    today = D("2026-11-20")  # a Friday, in Q4
    ranges = {p: str(preset_range(p, today)) for p in PRESETS}
    assert ranges == {
        "yesterday": "2026-11-19",
        "last7Days": "2026-11-13..2026-11-19",
        "last14Days": "2026-11-06..2026-11-19",
        "last30Days": "2026-10-21..2026-11-19",
        "lastWeek": "2026-11-08..2026-11-14",  # Sunday..Saturday
        "lastBusinessWeek": "2026-11-09..2026-11-13",  # Monday..Friday
        "thisMonth": "2026-11-01..2026-11-20",
        "lastMonth": "2026-10-01..2026-10-31",
        "last3Months": "2026-08-01..2026-10-31",
        "thisQuarter": "2026-10-01..2026-11-20",
        "lastQuarter": "2026-07-01..2026-09-30",
    }


def test_preset_ranges_agree_with_the_sandbox_calendar_for_every_day_of_four_years():
    today = D("2024-01-01")  # includes a leap year and every weekday at every month start
    while today < D("2028-01-01"):
        for preset in PRESETS:
            window = preset_range(preset, today)
            assert (window.start, window.end) == emulator.report_range(preset, today)
        assert preset_range("lastWeek", today).start.isoweekday() == 7
        assert preset_range("lastBusinessWeek", today).start.isoweekday() == 1
        today += dt.timedelta(days=1)


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        preset_range("last90Days", D("2026-11-20"))


# Choosing presets


def plan_text(plan: PresetPlan) -> list[str]:
    return [f"{r.preset} {r.keep}" for r in plan.requests]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-11-19", "2026-11-19", ["yesterday 2026-11-19"]),
        ("2026-11-17", "2026-11-19", ["last7Days 2026-11-17..2026-11-19"]),
        ("2026-11-13", "2026-11-19", ["last7Days 2026-11-13..2026-11-19"]),
        ("2026-11-12", "2026-11-19", ["last14Days 2026-11-12..2026-11-19"]),
        ("2026-11-09", "2026-11-13", ["lastBusinessWeek 2026-11-09..2026-11-13"]),
        ("2026-11-08", "2026-11-14", ["lastWeek 2026-11-08..2026-11-14"]),
        ("2026-11-01", "2026-11-19", ["thisMonth 2026-11-01..2026-11-19"]),
        ("2026-10-21", "2026-11-19", ["last30Days 2026-10-21..2026-11-19"]),
        ("2026-10-20", "2026-11-19", ["thisQuarter 2026-10-20..2026-11-19"]),
        ("2026-10-05", "2026-10-20", ["lastMonth 2026-10-05..2026-10-20"]),
        ("2026-08-15", "2026-10-20", ["last3Months 2026-08-15..2026-10-20"]),
        (
            "2026-07-01",
            "2026-11-19",
            ["lastQuarter 2026-07-01..2026-09-30", "thisQuarter 2026-10-01..2026-11-19"],
        ),
        # the end is capped at yesterday: today's partial day is never kept
        ("2026-11-19", "2026-11-20", ["yesterday 2026-11-19"]),
    ],
)
def test_the_smallest_preset_or_fewest_presets_are_chosen(start, end, expected):
    plan = choose_presets(D(start), D(end), D("2026-11-20"))
    assert plan_text(plan) == expected
    assert plan.unreachable == ()


def test_days_older_than_every_preset_are_named_and_the_rest_extracted():
    plan = choose_presets(D("2026-06-25"), D("2026-11-19"), D("2026-11-20"))
    assert plan.unreachable == (Window(D("2026-06-25"), D("2026-06-30")),)
    assert plan_text(plan) == [
        "lastQuarter 2026-07-01..2026-09-30",
        "thisQuarter 2026-10-01..2026-11-19",
    ]
    nothing = choose_presets(D("2025-01-01"), D("2025-01-31"), D("2026-11-20"))
    assert nothing.requests == ()
    assert nothing.unreachable == (Window(D("2025-01-01"), D("2025-01-31")),)


def test_nothing_to_do_when_start_is_after_yesterday():
    assert choose_presets(D("2026-11-20"), D("2026-11-25"), D("2026-11-20")) == PresetPlan()


def covered(window: Window) -> set[dt.date]:
    return {window.start + dt.timedelta(days=n) for n in range(window.days)}


@pytest.mark.slow
def test_every_plan_covers_each_reachable_day_once_with_the_smallest_single_preset():
    """Every today of a year x starts up to 200 days back (end = yesterday): every start
    within the week and month presets' reach, then one a week out to beyond lastQuarter."""
    today = D("2026-01-01")
    while today < D("2027-01-01"):
        yesterday = today - dt.timedelta(days=1)
        spans = {p: preset_range(p, today) for p in PRESETS}
        earliest = min(span.start for span in spans.values())
        for back in [*range(46), *range(46, 200, 7)]:
            start = yesterday - dt.timedelta(days=back)
            plan = choose_presets(start, yesterday, today)
            kept = [day for r in plan.requests for day in sorted(covered(r.keep))]
            wanted = {d for d in covered(Window(start, yesterday)) if d >= earliest}
            assert len(kept) == len(set(kept)), (today, start)
            assert set(kept) == wanted, (today, start)
            assert kept == sorted(kept)  # bookmarks only move forward
            lost = {d for w in plan.unreachable for d in covered(w)}
            assert lost == covered(Window(start, yesterday)) - wanted
            for request in plan.requests:
                assert covered(request.keep) <= covered(spans[request.preset])
                assert request.span == spans[request.preset]
            singles = [p for p in PRESETS if wanted and wanted <= covered(spans[p])]
            if singles:
                smallest = min(spans[p].days for p in singles)
                assert len(plan.requests) == 1
                assert spans[plan.requests[0].preset].days == smallest
            else:
                assert len(plan.requests) >= 2
        today += dt.timedelta(days=1)


def test_kept_rows_keep_the_window_and_refuse_rows_outside_the_report_or_twice():
    request = PresetRequest(
        "last7Days",
        Window(D("2026-11-15"), D("2026-11-19")),
        preset_range("last7Days", D("2026-11-20")),
    )
    rows = [{"date": f"2026-11-{day}"} for day in range(13, 20)]
    kept = kept_rows(rows, request, request.span)
    assert [r["date"] for r in kept] == [f"2026-11-{d}" for d in range(15, 20)]
    with pytest.raises(CalendarMismatch, match="outside last7Days"):
        list(kept_rows([{"date": "2026-11-20"}], request, request.span))
    with pytest.raises(ParseError, match="2026-11-16 appears twice"):
        list(kept_rows([{"date": "2026-11-16"}, {"date": "2026-11-16"}], request, request.span))
    # the report's own range is what rows are checked against: CityGrid's day had turned
    ahead = Window(D("2026-11-14"), D("2026-11-20"))
    kept = kept_rows([{"date": "2026-11-20"}, {"date": "2026-11-19"}], request, ahead)
    assert [r["date"] for r in kept] == ["2026-11-19"]


def report(first: str, last: str) -> Report:
    return Report([], D(first), D(last))


def test_reported_days_trust_the_reports_range_when_it_holds_the_kept_days():
    today = D("2026-11-21")
    request = choose_presets(D("2026-11-16"), D("2026-11-20"), today).requests[0]
    assert (request.preset, str(request.keep)) == ("last7Days", "2026-11-16..2026-11-20")
    assert reported_days(report("2026-11-14", "2026-11-20"), request, today) == request.span
    # a day ahead (CityGrid's 21:00 came first): still holds every kept day
    ahead = reported_days(report("2026-11-15", "2026-11-21"), request, today)
    assert str(ahead) == "2026-11-15..2026-11-21"
    # a day behind: the preset as of the 20th, which lacks the 20th
    with pytest.raises(ReportingDayLags, match="as of reporting day 2026-11-20"):
        reported_days(report("2026-11-13", "2026-11-19"), request, today)
    # anything else is a calendar the tap does not know
    for first, last in [("2026-11-12", "2026-11-19"), ("2026-11-17", "2026-11-20")]:
        with pytest.raises(CalendarMismatch, match="not the expected") as caught:
            reported_days(report(first, last), request, today)
        assert not isinstance(caught.value, ReportingDayLags)
    with pytest.raises(ParseError, match="no from/to"):
        reported_days(Report([]), request, today)


def test_the_last_day_of_this_month_and_this_quarter_is_partial_and_never_counts():
    today = D("2026-11-21")
    for preset, first in (("thisMonth", "2026-11-01"), ("thisQuarter", "2026-10-01")):
        request = PresetRequest(
            preset, Window(D("2026-11-06"), D("2026-11-20")), Window(D(first), today)
        )
        assert reported_days(report(first, "2026-11-21"), request, today) == request.span
        # lagging by a day, it ends on the 20th: CityGrid's partial day, not our complete one
        with pytest.raises(ReportingDayLags):
            reported_days(report(first, "2026-11-20"), request, today)
