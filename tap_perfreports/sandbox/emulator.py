"""What a vendor emulator receives and returns, and helpers they share."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import random
import typing as t
from dataclasses import dataclass, field

from tap_perfreports.clock import frozen_now

if t.TYPE_CHECKING:
    from tap_perfreports.sandbox.restatement import Restatements

Body = bytes | t.Iterable[bytes]


@dataclass
class SandboxRequest:
    """A request as an emulator sees it: the path below the vendor's prefix."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: t.Mapping[str, str]
    #: A data fault kind (`faults.DATA_FAULTS`) the answer must carry, if any: emulators
    #: whose vendor states totals serve rows and totals that disagree.
    data_fault: str | None = None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password


@dataclass
class Served:
    """Rows a response carries, committed to the ledger only if the body was sent whole."""

    table: str
    keys: list[tuple] = field(default_factory=list)


@dataclass
class SandboxResponse:
    status: int
    body: Body = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    served: list[Served] = field(default_factory=list)


class Emulator(t.Protocol):
    """One vendor's API, as its documentation describes it."""

    key: str
    #: The documented API's base path (the path of the vendor's `api_url`), served below
    #: /<key>.
    base_path: str
    #: What fills the tap's vendor object in sandbox mode: the sandbox's own credentials.
    tap_settings: t.ClassVar[dict[str, t.Any]]
    #: The server's restatements, which the emulator's data follow.
    restatements: Restatements
    #: The instant a test freezes the emulator's clock at (see `EmulatorClock`).
    now: dt.datetime | None

    def clock(self) -> dt.datetime:
        """The instant the emulator's data are as of."""
        ...

    def handle(self, request: SandboxRequest) -> SandboxResponse: ...

    def error_response(self, status: int) -> SandboxResponse:
        """The vendor's own error body for an injected failure status."""
        ...

    def cacheable(self, request: SandboxRequest) -> bool:
        """Whether the answer depends on nothing but the request (`--cache` may keep it)."""
        ...


class EmulatorClock:
    """The one clock of every emulator: real vendors serve nothing for the days after
    their today, and only what has happened so far of today."""

    #: The instant a test freezes this emulator at; else `TAP_PERFREPORTS_SANDBOX_NOW`,
    #: else the real time.
    now: dt.datetime | None = None

    def clock(self) -> dt.datetime:
        """The emulator's current instant."""
        return self.now or frozen_now() or dt.datetime.now(dt.UTC)


def share_passed(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> float:
    """How much of the span [start, end) has passed at `now` (aware date-times, compared
    in UTC so that a day with a DST change lasts its 23 or 25 hours): 0 until it starts,
    1 once it has ended."""
    start, end, now = (moment.astimezone(dt.UTC) for moment in (start, end, now))
    return min(1.0, max(0.0, (now - start) / (end - start)))


def stable_random(*parts: object) -> random.Random:
    """A generator seeded by its parts: the same data on every machine and run."""
    seed = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def period_end(start: dt.date, period: str) -> dt.date:
    """The last day of the `period` ("week": Monday to Sunday, "month") starting on `start`;
    any shorter period ends on the day it starts."""
    if period == "week":
        return start + dt.timedelta(days=6)
    if period == "month":
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - dt.timedelta(days=1)
    return start


def json_response(status: int, payload: t.Any, **headers: str) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(payload).encode(), "application/json", headers)


def rate_limit(env: str, requests: int, window_seconds: float) -> tuple[int, float]:
    """A rate limit: the documented one, or `<requests>/<seconds>` from `env` (a sandbox
    in another process, such as the one a tap under test starts, is set up that way)."""
    configured = os.environ.get(env)
    if not configured:
        return requests, window_seconds
    limit, _, seconds = configured.partition("/")
    return int(limit), float(seconds)
