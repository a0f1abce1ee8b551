"""Infinity Reports API v2, emulated: JSON lines, limit/offset, basic auth, JSON-string errors.

Data: each installation has a deterministic set of tracked events per UTC day
(`triggers/*`); `metrics/channels` aggregates those same events, so the two streams
agree with each other the way the real reports do. A restated UTC day keeps its events
(rowId, time, act...), revalues its goals and has events that arrived late. Events after
the emulator's clock have not happened: today's are partial, later days have none.

Paging, as Infinity's knowledge base describes it: a query pulls at most
`offset_row_limit` (50,000) rows by limit/offset. A request that would serve a row past
that is refused (HTTP 400), or, with `past_offset_limit = "empty"` (a fault mode: a limit
that cuts silently), answered with the rows before the limit only, so an empty page.
Beyond it, rows are paged by filtering on rowId (`rowId-gt-value-N`, sorted by
`rowId-asc` and nothing else). Filters take the documented `eq` and the greater-than
operand `greater_than_operand` (`gt`; the real code is undocumented, so tests rename it).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import typing as t
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_perfreports.sandbox.emulator import (
    EmulatorClock,
    SandboxRequest,
    SandboxResponse,
    Served,
    json_response,
    stable_random,
)
from tap_perfreports.sandbox.restatement import UNRESTATED, Restatements, Revisions

USERNAME = "sandbox@infinity.example"
PASSWORD = "sandbox-infinity-secret"  # noqa: S105 - the sandbox's own documented login
INSTALLATIONS = (1001, 1002)
MAX_LIMIT = 10_000
#: "The API stops a report from pulling more than 50,000 rows" by offset.
MAX_OFFSET_ROWS = 50_000
PAST_OFFSET_LIMIT = ("refuse", "empty")
ACTS = ("land", "page", "page", "call", "goal")
GOALS = (246, 543, 763)
CHANNELS = {1: "display", 2: "ppc", 3: "social", 4: "email", 5: "seo", 6: "ref", 7: "direct"}
EPOCH = dt.date(2000, 1, 1)
TRIGGER_FIELDS = (
    "rowId", "triggerDatetime", "igrp", "act", "vid", "ch", "goal",
    "srcPhoneNumber", "ip", "host", "whois", "revenue",
)  # fmt: skip


#: A restated day's late events take rowIds from here on, after the day's own events.
LATE_ROW_IDS_FROM = 50_000


@functools.lru_cache(maxsize=256)
def events_on(igrp: int, day: dt.date, scale: int = 1, revision: int = 0) -> list[dict[str, t.Any]]:
    """The events installation `igrp` tracked on UTC `day`, in time order, as of the day's
    `revision` (restatements: see `_restated`).

    `scale` multiplies the volume (benchmarks); rowIds stay unique up to scale 100.
    """
    if revision:
        return _restated(igrp, day, scale, revision)
    rng = stable_random("infinity", igrp, day)
    count = rng.randint(20, 60) * scale
    seconds = sorted(rng.randrange(86_400) for _ in range(count))
    return [_event(rng, igrp, day, index, second) for index, second in enumerate(seconds)]


def _restated(igrp: int, day: dt.date, scale: int, revision: int) -> list[dict[str, t.Any]]:
    """A day as restated `revision` times: conversions are valued late, so every goal event
    is revalued (its goal and revenue); events logged late arrive, a few with each
    restatement, with rowIds after the day's own. Every rowId keeps its event and time."""
    late: list[dict[str, t.Any]] = []
    for restatement in range(1, revision + 1):
        rng = stable_random("infinity", igrp, day, "late", restatement)
        for _ in range(rng.randint(1, 3) * scale):
            second = rng.randrange(86_400)
            late.append(_event(rng, igrp, day, LATE_ROW_IDS_FROM + len(late), second))
    rng = stable_random("infinity", igrp, day, revision)
    events = [
        {**event, "goal": rng.choice(GOALS), "revenue": _revenue(rng)}
        if event["act"] == "goal"
        else event
        for event in [*events_on(igrp, day, scale), *late]
    ]
    return sorted(events, key=lambda event: event["triggerDatetime"])


def _event(rng: random.Random, igrp: int, day: dt.date, index: int, second: int) -> dict:
    """The `index`th event of a UTC day, `second` seconds after its midnight."""
    act = rng.choice(ACTS)
    return {
        "rowId": igrp * 10_000_000_000 + (day - EPOCH).days * 100_000 + index,
        "triggerDatetime": dt.datetime.combine(day, dt.time(), dt.UTC)
        + dt.timedelta(seconds=second),
        "igrp": igrp,
        "act": act,
        "vid": f"{rng.getrandbits(64):016x}",
        "ch": rng.choice(list(CHANNELS)),
        "goal": rng.choice(GOALS) if act == "goal" else None,
        "srcPhoneNumber": f"07700900{rng.randrange(1000):03d}" if act == "call" else "",
        "ip": f"198.51.100.{rng.randrange(1, 255)}",
        "host": "infinity.example",
        "whois": "Infinity Call Tracking, Ltd",
        "revenue": _revenue(rng) if act == "goal" else 0.0,
    }


def _revenue(rng: random.Random) -> float:
    return round(rng.uniform(5, 250), 2)


@functools.lru_cache(maxsize=8)
def events_between(
    igrp: int,
    start: dt.date,
    end: dt.date,
    tz: dt.tzinfo,
    scale: int = 1,
    *,
    revisions: Revisions = UNRESTATED,
) -> list[dict]:
    """Events whose local date in `tz` is within [start, end], each UTC day at its revision.

    Kept while a window's pages are requested one after another: read only."""
    found = []
    day = start - dt.timedelta(days=1)
    while day <= end + dt.timedelta(days=1):
        for event in events_on(igrp, day, scale, revisions.of(day)):
            local = event["triggerDatetime"].astimezone(tz)
            if start <= local.date() <= end:
                found.append({**event, "triggerDatetime": local})
        day += dt.timedelta(days=1)
    return found


def _sort_key(field: str) -> t.Callable[[dict], tuple]:
    return lambda row: (row[field] is None, row[field])


def _greater(value: t.Any, than: str) -> bool:
    """The greater-than filter: numerically for numbers, else as text."""
    if value is None:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return value > (int(than) if isinstance(value, int) else float(than))
        except ValueError:
            raise BadRequest(f"Invalid filter value {than}") from None
    return str(value) > than


class BadRequest(Exception):
    """A parameter the real API would refuse with HTTP 400."""


class InfinityEmulator(EmulatorClock):
    key = "infinity"
    #: The documented API's base path, served below /infinity.
    base_path = "/reports/v2"
    #: What fills the tap's `infinity` object in sandbox mode.
    tap_settings: t.ClassVar[dict[str, t.Any]] = {"username": USERNAME, "password": PASSWORD}
    #: Multiplies the number of events per day (`tap-perfreports-sandbox --scale`).
    scale = 1

    def __init__(self, restatements: Restatements | None = None) -> None:
        self.restatements = restatements or Restatements()
        #: The most rows a query serves by offset, and what a request past it gets:
        #: "refuse" (HTTP 400) or "empty" (the rows before the limit only: a fault mode).
        self.offset_row_limit = MAX_OFFSET_ROWS
        self.past_offset_limit = "refuse"
        #: The filter operand code for "greater than".
        self.greater_than_operand = "gt"

    def cacheable(self, request: SandboxRequest) -> bool:
        """Reports are a function of the request once the clock has passed their window."""
        try:
            _, _, end, tz = self._common(request)
        except BadRequest:
            return False
        return self.clock() >= dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz)

    def error_response(self, status: int) -> SandboxResponse:
        messages = {
            401: "Unauthorised",
            403: "Forbidden",
            404: "Resource not found",
            429: "Too many requests",
        }
        return json_response(status, messages.get(status, "Internal server error"))

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.basic_auth() != (USERNAME, PASSWORD):
            return json_response(401, "Invalid username or password")
        route = request.path.removeprefix("/reports/v2/").strip("/")
        try:
            if route == "igrps":
                rows = [{"igrp": i, "igrpName": f"Sandbox installation {i}"} for i in INSTALLATIONS]
                return self._lines(rows, [])
            if route.startswith("triggers/"):
                return self._triggers(request, route)
            if route == "metrics/channels":
                return self._channels(request, route)
        except BadRequest as exc:
            return json_response(400, str(exc))
        return json_response(404, "Resource not found")

    # Routes

    def _triggers(self, request: SandboxRequest, route: str) -> SandboxResponse:
        igrp, start, end, tz = self._common(request)
        events = self._window_events(igrp, start, end, tz)
        if route == "triggers/calls":
            events = [e for e in events if e["act"] == "call"]
        elif route == "triggers/goals":
            events = [e for e in events if e["act"] == "goal"]
        events = self._filtered(request, events)
        if request.param("excludePiiData") == "1":
            events = [self._without_pii(e) for e in events]
        events = self._sorted(request, events, default="vid")
        page = self._page(request, events)
        rows = [self._display(request, e, TRIGGER_FIELDS) for e in page]
        return self._lines(rows, [Served(f"infinity:{route}", [(igrp, e["rowId"]) for e in page])])

    def _channels(self, request: SandboxRequest, route: str) -> SandboxResponse:
        igrp, start, end, tz = self._common(request)
        events = self._filtered(request, self._window_events(igrp, start, end, tz))
        groups = request.params("group[]") or ["ch"]
        if any(g not in ("ch", "goal", "act") for g in groups):
            raise BadRequest(f"Unsupported group field {groups}")
        customs = {
            key[len("customMetrics[") : -1]: values[-1]
            for key, values in request.query.items()
            if key.startswith("customMetrics[")
        }
        buckets: dict[tuple, list[dict]] = {}
        for event in events:
            buckets.setdefault(tuple(event[g] for g in groups), []).append(event)
        rows = []
        for values, members in buckets.items():
            row: dict[str, t.Any] = dict(zip(groups, values, strict=True))
            if "ch" in groups:
                row["chName"] = CHANNELS[row["ch"]]
            row["triggerCount"] = len(members)
            row["callCount"] = sum(e["act"] == "call" for e in members)
            row["goalCount"] = sum(e["act"] == "goal" for e in members)
            row["revenue"] = round(sum(e["revenue"] for e in members), 2)
            for reference, definition in customs.items():
                row[reference] = self._custom_metric(definition, members)
            rows.append(row)
        rows = self._sorted(request, rows, default=None)
        page = self._page(request, rows)
        keys = [(igrp, start.isoformat(), end.isoformat(), *(r[g] for g in groups)) for r in page]
        fields = tuple(rows[0]) if rows else ()
        return self._lines(
            [self._display(request, r, fields) for r in page], [Served(f"infinity:{route}", keys)]
        )

    def _window_events(self, igrp: int, start: dt.date, end: dt.date, tz: dt.tzinfo) -> list[dict]:
        """A window's events as restated now, up to the clock's instant."""
        now = self.clock()
        events = events_between(
            igrp, start, end, tz, self.scale, revisions=self.restatements.current
        )
        return [event for event in events if event["triggerDatetime"] <= now]

    # Parameters, as the docs define them

    def _common(self, request: SandboxRequest) -> tuple[int, dt.date, dt.date, dt.tzinfo]:
        igrp_text = request.param("igrp")
        if not igrp_text or not igrp_text.isdigit():
            raise BadRequest("igrp is required")
        igrp = int(igrp_text)
        if igrp not in INSTALLATIONS:
            raise BadRequest(f"Unknown installation {igrp}")
        try:
            start = dt.date.fromisoformat(request.param("startDate") or "")
            end = dt.date.fromisoformat(request.param("endDate") or "")
        except ValueError:
            raise BadRequest("startDate and endDate are required, as YYYY-MM-DD") from None
        if end < start:
            raise BadRequest("endDate must not be before startDate")
        try:
            tz: dt.tzinfo = ZoneInfo(request.param("tz") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRequest(f"Invalid timezone {request.param('tz')}") from None
        return igrp, start, end, tz

    def _page(self, request: SandboxRequest, rows: list[dict]) -> list[dict]:
        try:
            limit = int(request.param("limit") or MAX_LIMIT)
            offset = int(request.param("offset") or 0)
        except ValueError:
            raise BadRequest("limit and offset must be integers") from None
        if limit > MAX_LIMIT or limit < 1:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        if offset < 0:
            raise BadRequest("offset must not be negative")
        end = offset + limit
        if min(end, len(rows)) > self.offset_row_limit:
            if self.past_offset_limit != "empty":
                raise BadRequest(
                    f"A report cannot pull more than {self.offset_row_limit} rows by offset; "
                    "filter on rowId to get the rest"
                )
            end = self.offset_row_limit
        return rows[offset:end]

    def _sorted(self, request: SandboxRequest, rows: list[dict], default: str | None) -> list[dict]:
        sorts = request.params("sort[]")
        if not sorts:
            return sorted(rows, key=lambda r: str(r[default])) if default else rows
        for spec in reversed(sorts):
            field, _, order = spec.rpartition("-")
            if order not in ("asc", "desc") or (rows and field not in rows[0]):
                raise BadRequest(f"Invalid sort {spec}")
            rows = sorted(rows, key=_sort_key(field), reverse=order == "desc")
        return rows

    def _filtered(self, request: SandboxRequest, rows: list[dict]) -> list[dict]:
        for spec in request.params("filter[]"):
            field, operand, marker, value = [*spec.split("-", 3), "", "", ""][:4]
            if marker != "value" or operand not in ("eq", self.greater_than_operand):
                raise BadRequest(f"Unsupported filter {spec}")
            if operand == "eq":
                rows = [r for r in rows if str(r.get(field)) == value]
                continue
            if field == "rowId" and request.params("sort[]") != ["rowId-asc"]:
                raise BadRequest("Paging by rowId needs sort[]=rowId-asc and no other sort")
            rows = [r for r in rows if _greater(r.get(field), value)]
        return rows

    def _display(self, request: SandboxRequest, row: dict, fields: t.Sequence[str]) -> dict:
        wanted = request.params("display[]")
        if not wanted:
            return {f: row[f] for f in fields}
        shown = {}
        for spec in wanted:
            field, _, alias = spec.partition("-")
            if field not in row:
                raise BadRequest(f"Unknown display field {field}")
            shown[alias or field] = row[field]
        return shown

    @staticmethod
    def _without_pii(event: dict) -> dict:
        phone = event["srcPhoneNumber"]
        return {
            **event,
            "ip": event["ip"].rsplit(".", 1)[0] + ".X",
            "srcPhoneNumber": phone[:-4] + "XXXX" if phone else "",
            "host": "",
            "whois": "",
        }

    @staticmethod
    def _custom_metric(definition: str, members: list[dict]) -> int:
        metric, _, conditions = definition.partition("_")
        parts = conditions.split("_")
        selected = members
        for field, values in zip(parts[::2], parts[1::2], strict=False):
            allowed = set(values.split(","))
            selected = [e for e in selected if str(e.get(field)) in allowed]
        if metric == "goalCount":
            return sum(e["act"] == "goal" for e in selected)
        if metric == "callCount":
            return sum(e["act"] == "call" for e in selected)
        raise BadRequest(f"Unsupported custom metric {definition}")

    @staticmethod
    def _lines(rows: list[dict], served: list[Served]) -> SandboxResponse:
        def encode(value: t.Any) -> t.Any:
            return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, dt.datetime) else value

        body = b"".join(
            json.dumps({k: encode(v) for k, v in row.items()}, separators=(",", ":")).encode()
            + b"\n"
            for row in rows
        )
        return SandboxResponse(200, body, "application/x-ndjson", served=served)
