"""Window planning and bookmarks: pure functions, no HTTP."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from tap_perfreports.windows import (
    Window,
    latest_complete_day,
    parse_bookmark,
    plan_windows,
    resume_from,
)

pytestmark = pytest.mark.unit

D = dt.date


def test_windows_cover_the_range_exactly_once_without_gaps():
    windows = plan_windows(D(2024, 1, 1), D(2024, 3, 1), 7)
    assert windows[0].start == D(2024, 1, 1)
    assert windows[-1].end == D(2024, 3, 1)
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + dt.timedelta(days=1)
    assert all(1 <= w.days <= 7 for w in windows)
    assert sum(w.days for w in windows) == 61


def test_single_day_windows_and_an_empty_range():
    assert plan_windows(D(2024, 1, 1), D(2024, 1, 3), 1) == [
        Window(D(2024, 1, 1), D(2024, 1, 1)),
        Window(D(2024, 1, 2), D(2024, 1, 2)),
        Window(D(2024, 1, 3), D(2024, 1, 3)),
    ]
    assert plan_windows(D(2024, 1, 5), D(2024, 1, 4), 7) == []
    with pytest.raises(ValueError, match="max_days"):
        plan_windows(D(2024, 1, 1), D(2024, 1, 2), 0)


def test_resume_goes_back_by_the_lookback_but_never_before_start_date():
    start = D(2024, 1, 1)
    assert resume_from(None, start, 3) == start
    assert resume_from(D(2024, 2, 10), start, 0) == D(2024, 2, 11)
    assert resume_from(D(2024, 2, 10), start, 3) == D(2024, 2, 8)
    assert resume_from(D(2024, 1, 2), start, 30) == start


def test_latest_complete_day_depends_on_the_time_zone():
    from zoneinfo import ZoneInfo

    now = dt.datetime(2024, 3, 10, 20, 0, tzinfo=dt.UTC)
    assert latest_complete_day(now) == D(2024, 3, 9)
    assert latest_complete_day(now, ZoneInfo("Asia/Shanghai")) == D(2024, 3, 10)


def test_bookmarks_read_dates_and_date_times():
    assert parse_bookmark("2024-01-31") == D(2024, 1, 31)
    assert parse_bookmark("2024-01-31T23:59:59+00:00") == D(2024, 1, 31)
    assert parse_bookmark(None) is None
    assert str(Window(D(2024, 1, 1), D(2024, 1, 7))) == "2024-01-01..2024-01-07"
