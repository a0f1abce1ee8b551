"""What a stream's log says while it runs: a progress line at a steady cadence, and one
summary line at its end. A long backfill is never silent, and thousands of partitions
do not mean thousands of lines."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: Seconds between progress lines of one stream.
PROGRESS_EVERY_SECONDS = 20.0
#: Above this many partitions, each partition's plan is logged at DEBUG, not INFO.
PARTITIONS_LOGGED = 20


@dataclass
class Progress:
    """One stream's counts: windows of the current partition, partitions, rows."""

    every: float = PROGRESS_EVERY_SECONDS
    started: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)
    partitions_started: int = 0
    windows_planned: int = 0
    windows_done: int = 0
    windows_total: int = 0
    rows: int = 0
    partition_started: float = field(default_factory=time.monotonic)

    def start_partition(self, windows: int, now: float) -> None:
        if not self.partitions_started:
            self.started = self.last_line = now
        self.partitions_started += 1
        self.windows_planned = windows
        self.windows_done = 0
        self.partition_started = now

    def window_done(self, now: float) -> str | None:
        """A progress line if one is due (a partition's windows so far, rows, rate and
        what is left of the partition at that rate), else None."""
        self.windows_done += 1
        self.windows_total += 1
        if now - self.last_line < self.every:
            return None
        self.last_line = now
        elapsed = max(now - self.started, 1e-9)
        line = (
            f"{self.windows_done} of {self.windows_planned} window(s) done, "
            f"{self.rows:,} rows so far ({self.rows / elapsed:,.0f} rows/s)"
        )
        left = self.windows_planned - self.windows_done
        if left > 0 and self.windows_done:
            per_window = (now - self.partition_started) / self.windows_done
            line += f", about {_duration(left * per_window)} left in this partition"
        return line

    def summary(self, requests: int, now: float) -> str:
        return (
            f"{self.rows:,} rows in {self.windows_total} window(s) of "
            f"{self.partitions_started} partition(s), {requests} request(s), "
            f"{_duration(now - self.started)}"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
