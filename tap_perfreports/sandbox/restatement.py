"""Restatements: real vendors restate recent days (late data, corrections), which is why
the tap's lookback pulls them again; the sandbox restates on demand so tests can tell a
re-delivered value from a stale one.

A day's revision is the number of restatements whose `since` is on or before it.
Revision 0 is the data as first published, byte for byte; an emulator draws the values
of revision r > 0 from generators seeded by r too, so restated data is deterministic.
Only values move: the keys of the rows (dates, ids, dimension values) stay.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Revisions:
    """The restatements at one moment. Hashable: caches key by it, so none serves data of
    another moment's revisions."""

    #: The restatements' first days, sorted.
    sinces: tuple[dt.date, ...] = ()

    def of(self, day: dt.date) -> int:
        """The revision of `day`."""
        return bisect.bisect_right(self.sinces, day)

    def within(self, first: dt.date, last: dt.date) -> Revisions:
        """These revisions as far as the days `first`..`last` see them: equal at two moments
        when those days serve the same data (a key for a report over them)."""
        return Revisions(tuple(max(since, first) for since in self.sinces if since <= last))


#: No restatement: every day at revision 0.
UNRESTATED = Revisions()


class Restatements:
    """The server's restatements; every emulator is handed them when it is built, and reads
    `current` once per request so that an answer never mixes two moments."""

    def __init__(self) -> None:
        self.current = UNRESTATED
        self._lock = threading.Lock()

    def restate(self, since: dt.date) -> int:
        """Restate every day from `since` on; returns how many restatements there are now
        (the revision of the days on or after every `since`)."""
        with self._lock:
            self.current = Revisions(tuple(sorted((*self.current.sinces, since))))
            return len(self.current.sinces)

    def reset(self) -> None:
        """Back to the data as first published."""
        with self._lock:
            self.current = UNRESTATED
