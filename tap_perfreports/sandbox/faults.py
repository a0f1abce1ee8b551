"""Failures the sandbox injects on demand, for the reliability tests."""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass, field

#: What each kind does to a matching request.
KINDS = {
    "status": "answer with `status` (the vendor's own error body unless `body` is given)",
    "reset": "send `after_bytes` of the real body, then reset the connection",
    "truncate": "declare the full length, send `after_bytes`, then close",
    "drop": "close the connection without answering",
    "delay": "wait `delay` seconds, then answer normally",
    "body": "answer 200 with `body` instead of the real payload",
    "call": "answer normally (after the `action` that any fault may carry)",
    "wrong_total": "answer with a stated total that the rows do not add up to",
    "altered_value": "answer with one row's value changed, the totals left as they were",
    "dropped_day": "answer without one day's row, the totals still counting it",
}
#: Kinds that change the data of a normal answer, not its delivery. Only emulators of
#: vendors that state totals apply them: CityGrid all three, Mintegral `wrong_total` (a
#: generated report's `hours`); the others answer normally.
DATA_FAULTS = frozenset({"wrong_total", "altered_value", "dropped_day"})


@dataclass
class Fault:
    kind: str
    vendor: str | None = None
    path: str | None = None
    #: Query parameters a matching request carries (e.g. {"type": "2"}: a download).
    query: dict[str, str] = field(default_factory=dict)
    #: Matching requests that pass untouched before the fault starts.
    skip: int = 0
    #: How many matching requests it hits; -1 for every one.
    times: int = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    after_bytes: int = 0
    #: How many requests it has hit so far.
    hits: int = 0
    #: Called with the (host, port) the request came from, before the fault applies (tests
    #: in the same process: e.g. kill the client).
    action: t.Callable[[tuple[str, int]], None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(KINDS)}")
        if isinstance(self.body, str):
            self.body = self.body.encode()

    def matches(self, vendor: str, path: str, query: t.Mapping[str, list[str]]) -> bool:
        return (
            self.vendor in (None, vendor)
            and (self.path is None or self.path in path)
            and all(value in query.get(name, ()) for name, value in self.query.items())
        )


class FaultPlan:
    """Faults in the order they were added; the first live match applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.latency = 0.0

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.latency = 0.0

    def take(
        self, vendor: str, path: str, query: t.Mapping[str, list[str]] | None = None
    ) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times == 0 or not fault.matches(vendor, path, query or {}):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times > 0:
                    fault.times -= 1
                fault.hits += 1
                return fault
        return None
