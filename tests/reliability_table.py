"""The reliability figures: every fault, kill and fuzz test adds its counts here.

Tests call `record(...)` with what they measured (not what they expect), and fail on their
own when a count is wrong; the terminal summary (see `tests/conftest.py`) prints one table
per pytest session, which `make reliability` shows and the README explains.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

COLUMNS = (
    "faults injected",
    "runs",
    "rows expected",
    "rows lost",
    "rows duplicated",
    "rows stale",
    "secret hits",
    "unhandled exceptions",
)


@dataclass
class Tally:
    """Counts for one section of the table (e.g. "fault matrix: infinity")."""

    faults: int = 0
    runs: int = 0
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    #: Landed values that differ from the latest truth (a partial or outdated row).
    stale: int = 0
    secret_hits: int = 0
    unhandled: int = 0

    def add(self, other: Tally) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def row(self) -> tuple[int, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))


_lock = threading.Lock()
_sections: dict[str, Tally] = {}


def record(section: str, **counts: int) -> None:
    """Add measured counts (Tally's field names) to `section` of this session's table."""
    with _lock:
        _sections.setdefault(section, Tally()).add(Tally(**counts))


def render() -> str:
    """The table as Markdown, with a total row; empty when no test recorded anything."""
    with _lock:
        sections = dict(sorted(_sections.items()))
    if not sections:
        return ""
    total = Tally()
    for tally in sections.values():
        total.add(tally)
    width = max(len("total"), *(len(name) for name in sections))
    lines = [
        "| " + "section".ljust(width) + " | " + " | ".join(COLUMNS) + " |",
        "|" + "-" * (width + 2) + "|" + "|".join("-" * (len(c) + 2) for c in COLUMNS) + "|",
    ]
    for name, tally in [*sections.items(), ("total", total)]:
        cells = [
            str(value).rjust(len(column))
            for value, column in zip(tally.row(), COLUMNS, strict=True)
        ]
        lines.append("| " + name.ljust(width) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)
