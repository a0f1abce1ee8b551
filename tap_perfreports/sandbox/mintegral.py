"""Mintegral Advanced Performance Reporting, emulated: report jobs, then TSV downloads.

The state machine follows the documentation. A `type=1` request submits a job for its
exact conditions (dates, dimensions, granularity, timezone) or polls the existing one:
201 when it is created, 202 while it is generated (`generation_delay` seconds), 200
with `hours` and `is_complete` once generated. A `type=2` request downloads the TSV
(`application/octet-stream`), or answers 203 (no such job), 204 (not generated yet) or
205 (expired after `retention_seconds`; regeneration starts). Every other refusal is
code 10000: more than 7 days, older than half a year, an unknown dimension, or a
combination the docs forbid. Credentials are the three headers `access-key`,
`timestamp` and `token`; a token or timestamp more than `MAX_CLOCK_SKEW` seconds
from the real clock is refused with HTTP 401.

Data: per day of the account, deterministic delivery "atoms" (one per hour and
offer/campaign/creative/... combination); a report sums them by its dimensions. Hour
H of day D is available 1.5 hours after it ends in the requested timezone, on the
emulators' clock (`EmulatorClock`; `NOW_ENV` freezes it), so today's report is incomplete,
later days' are empty, and a job remembers what it saw when generated.
A restated day's deliveries are counted again; a job is for its days' revisions too, so
asking again after a restatement submits a new one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import random
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field

from tap_perfreports.clock import SANDBOX_NOW_ENV
from tap_perfreports.sandbox.emulator import (
    EmulatorClock,
    SandboxRequest,
    SandboxResponse,
    Served,
    json_response,
    stable_random,
)
from tap_perfreports.sandbox.restatement import UNRESTATED, Restatements, Revisions

ACCESS_KEY = "sandbox-mintegral-access-key"
API_KEY = "sandbox-mintegral-api-key"
NOW_ENV = SANDBOX_NOW_ENV
DELAY_ENV = "TAP_PERFREPORTS_MINTEGRAL_DELAY"
ROUTE = "/api/v2/reports/data"
MAX_CLOCK_SKEW = 600
MAX_SPAN_DAYS = 7
DATA_LAG = dt.timedelta(hours=1, minutes=30)
ONE_DAY = dt.timedelta(days=1)

#: Documented dimension -> the TSV headers it adds, in the documented header order.
DIMENSION_HEADERS: dict[str, tuple[str, ...]] = {
    "Offer": ("Offer Id", "Offer Uuid", "Offer Name"),
    "Campaign": ("Campaign Id",),
    "CampaignPackage": ("Campaign Package",),
    "Creative": ("Creative Id", "Creative Name"),
    "AdType": ("Ad Type",),
    "Sub": ("Sub Id",),
    "Package": ("Package Name",),
    "Location": ("Location",),
    "Endcard": ("Endcard ID", "Endcard Name"),
    "AdOutputType": ("Ad Output Type",),
}
#: The header that identifies each dimension's value (the ledger's key part).
DIMENSION_KEY = {dimension: headers[0] for dimension, headers in DIMENSION_HEADERS.items()}
METRIC_HEADERS = ("Impression", "Click", "Conversion", "Ecpm", "Cpc", "Ctr", "Cvr", "Ivr", "Spend")
FORBIDDEN = (
    ("Creative", "Sub"),
    ("Creative", "Package"),
    ("Endcard", "Sub"),
    ("Endcard", "Package"),
)
NOT_HOURLY = ("Creative", "Endcard")

OFFERS = tuple(
    (73332 + i, f"ss_sbx{i}_US_AND_game{i}_220112_MTG", f"sbx{i}_US_AND_game{i}_220112_MTG")
    for i in range(4)
)
CURRENCY_OF_OFFER = {73332: "USD", 73333: "USD", 73334: "USD", 73335: "CNY"}
AD_TYPES = ("banner", "rewarded_video", "interstitial_video", "native")
LOCATIONS = ("US", "JP", "DE", "BR", "CN")
AD_OUTPUT_TYPES = ("standard", "dynamic", "playable")


class Refused(Exception):
    """A request the API answers with code 10000."""


def parse_offset(text: str) -> dt.timezone:
    """The `timezone` parameter: hours east of UTC, `+8`, `-5`, `+5.5`."""
    if not re.fullmatch(r"[+-]?\d{1,2}(\.5)?", text):
        raise Refused(f"timezone {text!r} is invalid")
    hours = float(text)
    if not -12 <= hours <= 14:
        raise Refused(f"timezone {text!r} is out of range")
    return dt.timezone(dt.timedelta(hours=hours))


def half_year_before(day: dt.date) -> dt.date:
    """The same day six calendar months earlier (clamped to the month's length)."""
    year, month = divmod(day.year * 12 + day.month - 1 - 6, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def hours_available(day: dt.date, now: dt.datetime, tz: dt.tzinfo) -> int:
    """How many hours of `day` (in `tz`) are published at `now`: each 1.5 h after it ends."""
    midnight = dt.datetime.combine(day, dt.time(), tz)
    elapsed = (now - DATA_LAG - midnight) // dt.timedelta(hours=1)
    return max(0, min(24, elapsed))


@functools.lru_cache(maxsize=1024)
def atoms_on(day: dt.date, scale: int = 1, revision: int = 0) -> tuple[dict[str, t.Any], ...]:
    """The account's deliveries on `day`, at the finest grain, deterministic per day.

    A restated day is counted again (late installs, spend corrected): every delivery keeps
    its hour and dimensions, so the reports' rows stay, and gets new impressions, clicks,
    conversions and spend, drawn for the day's `revision`.
    """
    if revision:
        rng = stable_random("mintegral", day, revision)
        recounted = []
        for atom in atoms_on(day, scale):
            impressions, clicks, conversions = _delivered(rng)
            recounted.append(
                {
                    **atom,
                    "Impression": impressions,
                    "Click": clicks,
                    "Conversion": conversions,
                    "Spend": _spend(rng, impressions),
                }
            )
        return tuple(recounted)
    rng = stable_random("mintegral", day)
    atoms = []
    for _ in range(rng.randint(20, 40) * scale):
        offer_id, uuid, name = rng.choice(OFFERS)
        campaign = offer_id - 73332
        creative = rng.randrange(6)
        endcard = rng.randrange(3)
        impressions, clicks, conversions = _delivered(rng)
        atoms.append(
            {
                "hour": rng.randrange(24),
                "Offer": (offer_id, uuid, name),
                "Campaign": (1111 + campaign,),
                "CampaignPackage": (f"com.sandbox.game{campaign}",),
                "Creative": (2222 + creative, f"220301-sbx{creative}-US-MTG01.png"),
                "AdType": (rng.choice(AD_TYPES),),
                "Sub": (f"mtg{123456 + rng.randrange(8)}",),
                "Package": (f"com.publisher.app{rng.randrange(8)}",),
                "Location": (rng.choice(LOCATIONS),),
                "Endcard": (3333 + endcard, f"EC_PL_SBX_{endcard}"),
                "AdOutputType": (rng.choice(AD_OUTPUT_TYPES),),
                "Currency": CURRENCY_OF_OFFER[offer_id],
                "Impression": impressions,
                "Click": clicks,
                "Conversion": conversions,
                "Spend": _spend(rng, impressions),
            }
        )
    return tuple(atoms)


def _delivered(rng: random.Random) -> tuple[int, int, int]:
    """A delivery's impressions, clicks and conversions."""
    impressions = rng.randint(100, 20_000)
    clicks = rng.randint(0, impressions // 20)
    return impressions, clicks, rng.randint(0, clicks // 3)


def _spend(rng: random.Random, impressions: int) -> float:
    return round(impressions * rng.uniform(0.5, 15) / 1000, 2)


def canonical_dimensions(option: str) -> tuple[str, ...]:
    """The requested dimensions in documented order; 10000 for an unknown one."""
    wanted = [part.strip() for part in option.split(",") if part.strip()]
    unknown = [d for d in wanted if d not in DIMENSION_HEADERS]
    if unknown:
        raise Refused(f"dimension_option {unknown[0]!r} is not supported")
    return tuple(d for d in DIMENSION_HEADERS if d in wanted)


def check_combination(dimensions: t.Sequence[str], granularity: str) -> None:
    for first, second in FORBIDDEN:
        if first in dimensions and second in dimensions:
            raise Refused(f"dimension_option {first} with {second} is not supported")
    for dimension in NOT_HOURLY:
        if dimension in dimensions and granularity == "hourly":
            raise Refused(f"dimension_option {dimension} with time_granularity hourly")


def report_rows(
    start: dt.date,
    end: dt.date,
    dimensions: t.Sequence[str],
    granularity: str,
    *,
    tz: dt.tzinfo,
    as_of: dt.datetime,
    scale: int = 1,
    revisions: Revisions = UNRESTATED,
) -> list[dict[str, t.Any]]:
    """The report as generated at `as_of`: atoms of published hours, each day at its
    revision, summed by group.

    Rows map documented headers to values; the ground truth for tests.
    """
    groups: dict[tuple, dict[str, t.Any]] = {}
    day = start
    while day <= end:
        published = hours_available(day, as_of, tz)
        for atom in atoms_on(day, scale, revisions.of(day)):
            if atom["hour"] >= published:
                continue
            key: tuple = (day,)
            row: dict[str, t.Any] = {"Date": int(day.strftime("%Y%m%d"))}
            if granularity == "hourly":
                moment = dt.datetime.combine(day, dt.time(atom["hour"]), tz)
                row["Timestamp"] = int(moment.timestamp())
                key += (atom["hour"],)
            for dimension in dimensions:
                row.update(zip(DIMENSION_HEADERS[dimension], atom[dimension], strict=True))
                key += atom[dimension]
            row["Currency"] = atom["Currency"]
            key += (atom["Currency"],)
            group = groups.setdefault(key, {**row, "Impression": 0, "Click": 0, "Conversion": 0})
            group["Impression"] += atom["Impression"]
            group["Click"] += atom["Click"]
            group["Conversion"] += atom["Conversion"]
            group["Spend"] = round(group.get("Spend", 0.0) + atom["Spend"], 2)
        day += ONE_DAY
    return [_with_ratios(row) for row in groups.values()]


def _with_ratios(row: dict[str, t.Any]) -> dict[str, t.Any]:
    impressions, clicks, conversions = row["Impression"], row["Click"], row["Conversion"]
    row["Ecpm"] = round(row["Spend"] / impressions * 1000, 2) if impressions else 0
    row["Cpc"] = round(row["Spend"] / clicks, 2) if clicks else 0
    row["Ctr"] = round(clicks / impressions, 4) if impressions else 0
    row["Cvr"] = round(conversions / clicks, 4) if clicks else 0
    row["Ivr"] = round(conversions / impressions, 4) if impressions else 0
    return row


def row_key(row: t.Mapping[str, t.Any], dimensions: t.Sequence[str]) -> tuple:
    """A served row's grain: ISO date, [timestamp], each dimension's key value, currency."""
    date = str(row["Date"])
    key: tuple = (f"{date[:4]}-{date[4:6]}-{date[6:]}",)
    if "Timestamp" in row:
        key += (row["Timestamp"],)
    key += tuple(row[DIMENSION_KEY[d]] for d in dimensions)
    return (*key, row["Currency"])


def table_name(dimensions: t.Sequence[str], granularity: str) -> str:
    """The ledger table of a report: `mintegral:<granularity>:<dimensions, documented order>`."""
    return f"mintegral:{granularity}:{','.join(dimensions)}"


def tsv_lines(rows: list[dict[str, t.Any]], headers: list[str]) -> t.Iterator[bytes]:
    yield ("\t".join(headers) + "\n").encode()
    for row in rows:
        yield ("\t".join(str(row.get(h, "")) for h in headers) + "\n").encode()


@dataclass
class Job:
    """One report condition's generation: when it is (or was) ready and what it saw."""

    as_of: dt.datetime
    ready_at: float
    hours: int = 0
    is_complete: bool = False
    rows: list[dict[str, t.Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Condition:
    start: dt.date
    end: dt.date
    dimensions: tuple[str, ...]
    granularity: str
    timezone: str
    #: The revisions of its days when asked: a restatement makes it another job.
    revisions: Revisions = UNRESTATED

    @property
    def tz(self) -> dt.timezone:
        return parse_offset(self.timezone)


class MintegralEmulator(EmulatorClock):
    key = "mintegral"
    #: The documented API's base path, served below /mintegral.
    base_path = "/api/v2"
    #: What fills the tap's `mintegral` object in sandbox mode.
    tap_settings: t.ClassVar[dict[str, t.Any]] = {"access_key": ACCESS_KEY, "api_key": API_KEY}
    #: Seconds a job takes to generate (tests and benchmarks change it).
    generation_delay: float = float(os.environ.get(DELAY_ENV) or 0.2)
    #: Seconds a generated report is kept (a month on the real API).
    retention_seconds: float = 30 * 86_400
    #: Multiplies the number of deliveries per day (`tap-perfreports-sandbox --scale`).
    scale = 1

    def __init__(self, restatements: Restatements | None = None) -> None:
        self.restatements = restatements or Restatements()
        self.jobs: dict[Condition, Job] = {}
        #: How many times each condition's data was generated (first time and again).
        self.generations: dict[Condition, int] = {}
        self._lock = threading.Lock()

    def cacheable(self, request: SandboxRequest) -> bool:
        """Downloads are; status answers move with the job."""
        return request.param("type") == "2"

    def error_response(self, status: int) -> SandboxResponse:
        return json_response(status, {"code": status, "msg": "error", "data": None})

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path.rstrip("/") != ROUTE:
            return json_response(404, {"code": 404, "msg": "Not Found", "data": None})
        refused_login = self._check_token(request)
        if refused_login:
            return json_response(401, {"code": 401, "msg": refused_login, "data": None})
        try:
            condition, kind = self._condition(request)
            with self._lock:
                if kind == "1":
                    return self._status(condition, understated=request.data_fault == "wrong_total")
                return self._download(condition)
        except Refused as exc:
            return _coded(10000, f"Parameter error: {exc}")

    # Requests

    def _check_token(self, request: SandboxRequest) -> str:
        """Why the credentials are refused, or '' when they are right and fresh."""
        if request.headers.get("access-key") != ACCESS_KEY:
            return "access-key is invalid"
        stamp = request.headers.get("timestamp") or ""
        if not stamp.isdigit():
            return "timestamp is missing"
        if abs(time.time() - int(stamp)) > MAX_CLOCK_SKEW:
            return "timestamp has expired"
        inner = hashlib.md5(stamp.encode()).hexdigest()
        expected = hashlib.md5((API_KEY + inner).encode()).hexdigest()
        if request.headers.get("token") != expected:
            return "token is invalid"
        return ""

    def _condition(self, request: SandboxRequest) -> tuple[Condition, str]:
        """The report a request names, and its step (type 1 or 2); Refused if invalid."""
        kind = request.param("type") or "1"
        if kind not in ("1", "2"):
            raise Refused("type must be 1 or 2")
        try:
            start = dt.date.fromisoformat(request.param("start_time") or "")
            end = dt.date.fromisoformat(request.param("end_time") or "")
        except ValueError:
            raise Refused("start_time and end_time are required, as YYYY-mm-dd") from None
        if end < start:
            raise Refused("end_time is before start_time")
        if (end - start).days + 1 > MAX_SPAN_DAYS:
            raise Refused("The end and start time spans no more than 7 days")
        timezone = request.param("timezone") or "+8"
        today = self.clock().astimezone(parse_offset(timezone)).date()
        if start < half_year_before(today):
            raise Refused("Only supports querying the data of the last half year")
        granularity = request.param("time_granularity") or "daily"
        if granularity not in ("daily", "hourly"):
            raise Refused(f"time_granularity {granularity!r} is not supported")
        dimensions = canonical_dimensions(request.param("dimension_option") or "")
        check_combination(dimensions, granularity)
        revisions = self.restatements.current.within(start, end)
        return Condition(start, end, dimensions, granularity, timezone, revisions), kind

    def _status(self, condition: Condition, *, understated: bool = False) -> SandboxResponse:
        """type=1: submit (201), generating (202), or generated (200 with its hours; the
        data fault `wrong_total` states an hour fewer than the data holds, `is_complete`
        unchanged)."""
        job = self.jobs.get(condition)
        if job is None:
            self._generate(condition)
            return _coded(201, "The request was received successfully, waiting to generate data.")
        if time.time() < job.ready_at:
            return _coded(202, "Data is being generated.")
        if self._expired(job) or self._has_newer_hours(condition, job):
            self._generate(condition)
            return _coded(202, "Data is being generated.")
        hours = job.hours - 1 if understated else job.hours
        return _coded(200, "success", {"hours": hours, "is_complete": job.is_complete})

    def _download(self, condition: Condition) -> SandboxResponse:
        """type=2: the TSV once generated; 203, 204 or 205 otherwise."""
        job = self.jobs.get(condition)
        if job is None:
            return _coded(203, "Did not receive the same condition request, please use type = 1.")
        if time.time() < job.ready_at:
            return _coded(204, "Data has not yet been generated, please wait.")
        if self._expired(job):
            self._generate(condition)
            return _coded(205, "The data has expired and is being regenerated.")
        headers = ["Date"]
        if condition.granularity == "hourly":
            headers.append("Timestamp")
        for dimension in condition.dimensions:
            headers += DIMENSION_HEADERS[dimension]
        headers += ["Currency", *METRIC_HEADERS]
        keys = [row_key(row, condition.dimensions) for row in job.rows]
        return SandboxResponse(
            200,
            b"".join(tsv_lines(job.rows, headers)),
            "application/octet-stream",
            served=[Served(table_name(condition.dimensions, condition.granularity), keys)],
        )

    # Jobs

    def _generate(self, condition: Condition) -> None:
        as_of = self.clock()
        hours = window_hours(condition, as_of)
        rows = report_rows(
            condition.start,
            condition.end,
            condition.dimensions,
            condition.granularity,
            tz=condition.tz,
            as_of=as_of,
            scale=self.scale,
            revisions=condition.revisions,
        )
        self.jobs[condition] = Job(
            as_of=as_of,
            ready_at=time.time() + self.generation_delay,
            hours=hours,
            is_complete=hours == 24 * ((condition.end - condition.start).days + 1),
            rows=rows,
        )
        self.generations[condition] = self.generations.get(condition, 0) + 1

    def _expired(self, job: Job) -> bool:
        return time.time() > job.ready_at + self.retention_seconds

    def _has_newer_hours(self, condition: Condition, job: Job) -> bool:
        """An incomplete report is regenerated when asked again after more hours arrived."""
        return not job.is_complete and window_hours(condition, self.clock()) > job.hours


def window_hours(condition: Condition, as_of: dt.datetime) -> int:
    """The `hours` a report holds: published hours summed over its days."""
    days = (condition.end - condition.start).days + 1
    return sum(
        hours_available(condition.start + dt.timedelta(days=i), as_of, condition.tz)
        for i in range(days)
    )


def _coded(code: int, message: str, data: t.Any = None) -> SandboxResponse:
    """The API's JSON envelope, always under HTTP 200."""
    payload = {"code": code, "msg": message, "data": data}
    return SandboxResponse(200, json.dumps(payload).encode(), "application/json")
