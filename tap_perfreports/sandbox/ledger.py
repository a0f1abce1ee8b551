"""The sandbox's ground truth: every request it answered and every row it served."""

from __future__ import annotations

import threading
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LedgerRequest:
    vendor: str
    path: str
    query: dict[str, list[str]]
    status: int
    rows: int
    fault: str | None
    #: When the answer was finished (time.time()), for rate and concurrency checks.
    at: float = field(default_factory=time.time)


class Ledger:
    """Thread-safe record of what was served; rows count only when sent completely."""

    def __init__(self, *, record_keys: bool = True) -> None:
        self.record_keys = record_keys
        self._lock = threading.Lock()
        self.requests: list[LedgerRequest] = []
        self.rows_served: Counter[str] = Counter()
        self._keys: dict[str, Counter[tuple]] = {}

    def log_request(self, entry: LedgerRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def commit(self, table: str, keys: t.Sequence[tuple]) -> None:
        with self._lock:
            self.rows_served[table] += len(keys)
            if self.record_keys:
                self._keys.setdefault(table, Counter()).update(keys)

    def served_keys(self, table: str) -> set[tuple]:
        """Distinct primary keys served for `table` (a stream name)."""
        with self._lock:
            return set(self._keys.get(table, ()))

    def tables(self) -> list[str]:
        with self._lock:
            return sorted(self.rows_served)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.rows_served.clear()
            self._keys.clear()

    def snapshot(self) -> dict[str, t.Any]:
        """JSON-ready view for the control endpoint."""
        with self._lock:
            return {
                "rows_served": dict(self.rows_served),
                "keys": {
                    table: sorted(list(key) for key in keys) for table, keys in self._keys.items()
                },
                "requests": [vars(r) for r in self.requests],
            }
