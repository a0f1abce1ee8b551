"""Date windows and bookmarks: which days a run extracts, in which requests.

A bookmark is the last reporting day that was extracted completely. The next run starts
`lookback_days` before the day after it (to pick up late data), never before
`start_date`, and ends on `end_date` (inclusive, like every vendor's own end date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive range of reporting days fetched together."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def plan_windows(start: dt.date, end: dt.date, max_days: int) -> list[Window]:
    """Split [start, end] into consecutive windows of at most `max_days` days."""
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    windows = []
    cursor = start
    step = dt.timedelta(days=max_days - 1)
    while cursor <= end:
        window_end = min(cursor + step, end)
        windows.append(Window(cursor, window_end))
        cursor = window_end + ONE_DAY
    return windows


def resume_from(bookmark: dt.date | None, start_date: dt.date, lookback_days: int) -> dt.date:
    """First day to extract: the day after the bookmark minus the lookback, or `start_date`."""
    if bookmark is None:
        return start_date
    return max(start_date, bookmark + ONE_DAY - dt.timedelta(days=lookback_days))


def latest_complete_day(now: dt.datetime, tz: dt.tzinfo = dt.UTC) -> dt.date:
    """The last day that has ended in `tz`: the default `end_date`."""
    return now.astimezone(tz).date() - ONE_DAY


def parse_bookmark(value: object) -> dt.date | None:
    """Read a bookmark written by this tap (a date, or a date-time whose date counts)."""
    if value in (None, ""):
        return None
    return dt.date.fromisoformat(str(value)[:10])
