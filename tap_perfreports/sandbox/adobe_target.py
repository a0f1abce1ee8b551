"""Adobe Test&Target Performance Report API (version 2), emulated: one `api` endpoint.

Credentials travel in the query string; a wrong login is answered with the documented
`<error>` body (code 401) under HTTP 200, as the real API does for its own errors. Data
are deterministic per campaign, segment, metric type, resolution and sample; about one
sample in eight has no visitors and is absent from the XML, as documented. Options for
tests (attributes of the emulator): `malformed` renders the data with the documentation
example's two malformations, `doc_example` answers every report request with the
documentation's example verbatim (`DOC_EXAMPLE`), `ignore_type` answers with every metric
type whatever `type` asks for.

A sample that covers a restated day is counted again. Every recipe's values, "Campaign"
included, are drawn for itself: the "Campaign" recipe is not the sum of the others.

On the emulator's clock, a sample that has not started has no visitors yet, so it is
absent like any sample without visitors; the sample in progress holds the visitors so
far (its counts in proportion to the part that has passed), as the documentation only
leaves out samples without visitors, not unfinished ones.

Date ranges are half-open, as Adobe's examples write a month (`start=2007-08-01T00:00&
end=2007-09-01T00:00`): `end` is exclusive, and a report holds the samples wholly inside
[start, end), so a range ending at `T23:59` misses its last sample and the tests see it.

Throttling: report requests are limited per account (`client`) to `requests_per_window`
in any `window_seconds` (50 a minute, the report APIs' documented throttle); a request
over it is refused without being counted, answered as `throttle_answer` says (the real
form is undocumented): "error-message" (default: HTTP 200 and an `<error>` whose message
says so, under a code that does not), "error-code" (HTTP 200, `<error>` code 429), "429"
or "503" (those statuses, with an `<error>` body saying so). Tests shrink the window on
the instance, or with `RATE_LIMIT_ENV` for a sandbox in another process; `rate_log`
lists every request the limiter saw.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import typing as t
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from tap_perfreports.sandbox.emulator import (
    EmulatorClock,
    SandboxRequest,
    SandboxResponse,
    Served,
    period_end,
    rate_limit,
    share_passed,
    stable_random,
)
from tap_perfreports.sandbox.restatement import Restatements, Revisions

CLIENT = "sandboxclient"
EMAIL = "sandbox@target.example"
PASSWORD = "sandbox-target-Secret"  # noqa: S105 - the sandbox's own documented login
CAMPAIGNS = (7, 11)
#: First of the campaign ids `scale` adds after CAMPAIGNS (benchmarks).
SCALED_CAMPAIGNS_FROM = 1001
SEGMENTS = {"0": "Segment 1", "1": "Segment 2"}
ENVIRONMENTS = ("Production", "Staging")
RESOLUTIONS = ("hour", "day", "week", "month")
METRIC_TYPES = ("visit", "visitor", "impression")
RECIPES = ("Experience A", "Experience B", "Campaign")
DELETED_RECIPE = "Experience C"
STEPS = ("Entry", "Visits", "Display mboxes", "Time on Site", "Page Count", "Clicked Article")
ENGAGED_STEPS = ("Page Count", "Time on Site")
#: The documentation's example report, verbatim: not well-formed, and its year is "YYYY".
DOC_EXAMPLE = b"""<reports>
   <report campaignId="7" start="YYYY-07-01" end="YYYY-08-02" resolution="day" type="visitor" segments="Segment 1" segmentId="0">
      <sample start="YYYY-08-01T00:00" duration="day">
         <recipe name="Experience A">
            <step name="Entry">476.0</step>
            <step name="Visits">370.0</steps>
            <step name="Display mboxes">476.0</step>
            <step name="Time on Site">1117.0</step>
            <step name="Page Count">1117.0</step>
            <step name="Score">1100.0</step>
            <step name="Global Mbox">1100.0</step>
            <step name="Clicked Article">255.0</step>
            <amount>121.13</amount>
            <engagementMetrics>
               <engagement stepName="Page Count" count="190" total="558.00000"sumOfSquares="4382.00000"/>
               <engagement stepName="Time on Site" count="211" total="44773.42500"sumOfSquares="43287221.65236"/>
               <engagement stepName="Score" count="207" total="117.00000"sumOfSquares="843.00000"/>
            </engagementMetrics>
         </recipe>
      </sample>
   </report>
   <report campaignId="7" start="YYYY-08-01" end="YYYY-08-02" resolution="day" type="visitor" segments="Segment 2" segmentId="1">
      .
      .
      .
   </report>
   <report campaignId="7" start="YYYY-08-01" end="YYYY-08-02" resolution="day" type="visitor">
      .
      .
      .
   </report>
</reports>
"""  # noqa: E501 - verbatim
#: The tap's fixed segment key for the aggregate report (it has no segment attributes).
AGGREGATE = "aggregate"
EMPTY_SAMPLE_ODDS = 0.125
#: "<requests>/<seconds>", e.g. "50/2": the throttle of a sandbox in another process.
RATE_LIMIT_ENV = "TAP_PERFREPORTS_SANDBOX_ADOBE_TARGET_RATE_LIMIT"
DOCUMENTED_LIMIT = 50
DOCUMENTED_WINDOW_SECONDS = 60.0
THROTTLE_ANSWERS = ("error-message", "error-code", "429", "503")


def sample_starts(start: dt.datetime, end: dt.datetime, resolution: str) -> list[dt.datetime]:
    """Starts of the samples wholly inside [start, end): hours, days, Mondays or months'
    firsts. `end` is exclusive; a sample that the range covers only in part is left out."""
    cursor = start.replace(minute=0) if resolution == "hour" else start.replace(hour=0, minute=0)
    if resolution == "week":
        cursor -= dt.timedelta(days=cursor.weekday())
    elif resolution == "month":
        cursor = cursor.replace(day=1)
    starts = []
    while cursor < end:
        following = next_sample(cursor, resolution)
        if cursor >= start and following <= end:
            starts.append(cursor)
        cursor = following
    return starts


def next_sample(start: dt.datetime, resolution: str) -> dt.datetime:
    """The start of the sample after the one starting at `start`."""
    if resolution == "hour":
        return start + dt.timedelta(hours=1)
    if resolution == "day":
        return start + dt.timedelta(days=1)
    if resolution == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def sample(
    campaign: int,
    metric_type: str,
    segment: str,
    resolution: str,
    start: dt.datetime,
    *,
    include_deleted: bool = False,
    filter_extreme: bool = False,
    revision: int = 0,
    passed: float = 1.0,
) -> dict[str, dict[str, t.Any]] | None:
    """recipe -> {steps, amount, engagement} for one sample; None when it had no visitors.

    A restated sample is counted again (hits processed late): new values for the same
    recipes and steps, drawn for its `revision`; a sample without visitors stays without.
    Of a sample in progress only `passed` has happened (see `sample_passed`): its values
    so far; none at all before it starts.
    """
    if not passed:
        return None
    rng = stable_random("adobe_target", campaign, metric_type, segment, resolution, start)
    if rng.random() < EMPTY_SAMPLE_ODDS:
        return None
    if revision:
        rng = stable_random(
            "adobe_target", campaign, metric_type, segment, resolution, start, revision
        )
    recipes = RECIPES[:-1] + ((DELETED_RECIPE,) if include_deleted else ()) + RECIPES[-1:]
    result: dict[str, dict[str, t.Any]] = {}
    for recipe in recipes:
        entry = rng.randint(50, 900)
        steps = {
            name: float(max(0, entry - i * rng.randint(0, 60))) for i, name in enumerate(STEPS)
        }
        amount = round(rng.uniform(0, 400), 2)
        if filter_extreme:
            amount = round(amount * 0.9, 2)
        engagement = {
            name: (
                rng.randint(1, 300),
                round(rng.uniform(1, 50000), 5),
                round(rng.uniform(1, 9e6), 5),
            )
            for name in ENGAGED_STEPS
        }
        result[recipe] = {"steps": steps, "amount": amount, "engagement": engagement}
    if passed < 1:
        return {recipe: _so_far(values, passed) for recipe, values in result.items()}
    return result


def _so_far(values: dict[str, t.Any], passed: float) -> dict[str, t.Any]:
    """A recipe's values when `passed` of its sample has happened: each in proportion."""
    return {
        "steps": {name: float(int(value * passed)) for name, value in values["steps"].items()},
        "amount": round(values["amount"] * passed, 2),
        "engagement": {
            name: (int(count * passed), round(total * passed, 5), round(squares * passed, 5))
            for name, (count, total, squares) in values["engagement"].items()
        },
    }


def sample_passed(start: dt.datetime, resolution: str, now: dt.datetime) -> float:
    """How much of the sample starting at `start` (sandbox times are UTC) has passed at
    `now`: samples are back to back, each ending where the next starts."""
    first = start.replace(tzinfo=dt.UTC)
    if resolution == "hour":
        following = first + dt.timedelta(hours=1)
    else:
        last_day = period_end(first.date(), resolution)
        following = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), dt.UTC)
    return share_passed(first, following, now)


def campaigns(scale: int = 1) -> tuple[int, ...]:
    """The login's campaigns: CAMPAIGNS, and as many again per step of `scale`."""
    extra = len(CAMPAIGNS) * (scale - 1)
    return CAMPAIGNS + tuple(range(SCALED_CAMPAIGNS_FROM, SCALED_CAMPAIGNS_FROM + extra))


def sample_revision(start: dt.datetime, resolution: str, revisions: Revisions) -> int:
    """A sample's revision: its last day's, the highest of the days it counts."""
    return revisions.of(period_end(start.date(), resolution))


def utc_text(moment: dt.datetime) -> str:
    """A sample start as the tap emits it (sandbox times are UTC)."""
    return moment.replace(tzinfo=dt.UTC).isoformat()


@dataclass(frozen=True)
class RateLimitEntry:
    """One request the throttle saw: when, for which account, and whether it passed."""

    at: float
    client: str
    accepted: bool


class AdobeTargetEmulator(EmulatorClock):
    key = "adobe_target"
    #: The documented API's base path, served below /adobe_target.
    base_path = "/api"
    #: What fills the tap's `adobe_target` object in sandbox mode.
    tap_settings: t.ClassVar[dict[str, t.Any]] = {
        "client": CLIENT,
        "email": EMAIL,
        "password": PASSWORD,
        "campaign_ids": list(CAMPAIGNS),
    }
    #: Multiplies the login's campaigns (`tap-perfreports-sandbox --scale`).
    scale = 1

    def __init__(
        self,
        restatements: Restatements | None = None,
        rate_clock: t.Callable[[], float] = time.time,
    ) -> None:
        self.restatements = restatements or Restatements()
        self.malformed = False
        self.doc_example = False
        self.ignore_type = False
        self.requests_per_window, self.window_seconds = rate_limit(
            RATE_LIMIT_ENV, DOCUMENTED_LIMIT, DOCUMENTED_WINDOW_SECONDS
        )
        self.throttle_answer = THROTTLE_ANSWERS[0]
        #: The throttle's clock (seconds), apart from the data clock (`clock()`).
        self.rate_clock = rate_clock
        #: Every request the throttle counted or refused, for tests.
        self.rate_log: list[RateLimitEntry] = []
        self._accepted: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    # The throttle

    def _take(self, client: str) -> bool:
        """Count one request of `client` in its sliding window; False when it is spent."""
        with self._lock:
            now = self.rate_clock()
            accepted = self._accepted.setdefault(client, collections.deque())
            while accepted and accepted[0] <= now - self.window_seconds:
                accepted.popleft()
            allowed = len(accepted) < self.requests_per_window
            if allowed:
                accepted.append(now)
            self.rate_log.append(RateLimitEntry(now, client, allowed))
            return allowed

    def throttled(self) -> SandboxResponse:
        """The answer to a request over the limit, in the form `throttle_answer` picks."""
        rate = f"{self.requests_per_window} requests per {self.window_seconds:g} seconds"
        if self.throttle_answer == "error-code":
            return error("Try again later.", 429)
        if self.throttle_answer == "429":
            return error("Too many requests.", 429, http_status=429)
        if self.throttle_answer == "503":
            return error(f"Request throttled: {rate}.", 503, http_status=503)
        return error(f"API request limit exceeded: {rate} per account.", 403)

    def cacheable(self, request: SandboxRequest) -> bool:
        """Reports are a function of the request once the clock has passed their last
        sample. (An answer kept by `--cache` is served again without passing the throttle:
        benchmarks give it a rate they never reach.)"""
        try:
            query = ReportQuery.from_request(request)
        except ValueError:
            return False
        starts = sample_starts(query.start, query.end, query.resolution)
        return not starts or sample_passed(starts[-1], query.resolution, self.clock()) == 1

    def error_response(self, status: int) -> SandboxResponse:
        messages = {
            401: "Invalid email or password supplied.",
            429: "Too many requests.",
            500: "Internal error.",
        }
        return error(messages.get(status, "Request failed."), status, http_status=status)

    def handle(self, request: SandboxRequest) -> SandboxResponse:  # noqa: PLR0911 - documented errors
        if request.path.rstrip("/") != "/api":
            return error("Unknown resource.", 404, http_status=404)
        if (request.param("client"), request.param("email"), request.param("password")) != (
            CLIENT,
            EMAIL,
            PASSWORD,
        ):
            return error(
                f"Invalid email or password supplied. Email: {request.param('email')}", 401
            )
        if request.param("operation") not in ("report", "Report"):
            return error("Unknown operation.", 400)
        if request.param("version") != "2":
            return error("This sandbox emulates version 2 only.", 400)
        if not self._take(str(request.param("client"))):
            return self.throttled()
        if self.doc_example:
            return SandboxResponse(200, DOC_EXAMPLE, "text/xml")
        try:
            query = ReportQuery.from_request(request)
        except ValueError as exc:
            return error(str(exc), 400)
        if query.campaign not in campaigns(self.scale):
            return error(f"Campaign {query.campaign} not found.", 404)
        return self.report(query)

    def report(self, query: ReportQuery) -> SandboxResponse:
        served = {
            name: Served(f"adobe_target_{name}") for name in ("steps", "recipes", "engagement")
        }
        parts = ["<reports>\n"]
        segments: list[str | None] = [None]
        if query.segment == "allSegments":
            segments = [*SEGMENTS, None]
        elif query.segment is not None:
            found: list[str | None] = [s for s, name in SEGMENTS.items() if name == query.segment]
            if not found:
                return error(f"Segment {query.segment} not found.", 400)
            segments = found
        asked = [query.metric_type] if query.metric_type and not self.ignore_type else []
        revisions, now = self.restatements.current, self.clock()
        for metric_type in asked or list(METRIC_TYPES):
            for segment in segments:
                parts.append(
                    self.render_report(query, metric_type, segment, served, revisions, now=now)
                )
        parts.append("</reports>\n")
        return SandboxResponse(
            200, "".join(parts).encode(), "text/xml", served=list(served.values())
        )

    def render_report(
        self,
        query: ReportQuery,
        metric_type: str,
        segment: str | None,
        served: dict[str, Served],
        revisions: Revisions,
        *,
        now: dt.datetime,
    ) -> str:
        segment_attrs = ""
        if segment is not None:
            segment_attrs = (
                f" segments={quoteattr(SEGMENTS[segment])} segmentId={quoteattr(segment)}"
            )
        out = [
            f'   <report campaignId="{query.campaign}" start="{query.start:%Y-%m-%d}" '
            f'end="{query.end:%Y-%m-%d}" resolution="{query.resolution}" '
            f'type="{metric_type}"{segment_attrs}>\n'
        ]
        segment_key = segment if segment is not None else AGGREGATE
        sep = "" if self.malformed else " "
        for start in sample_starts(query.start, query.end, query.resolution):
            data = sample(
                query.campaign,
                metric_type,
                segment_key,
                query.resolution,
                start,
                include_deleted=query.include_deleted,
                filter_extreme=query.filter_extreme,
                revision=sample_revision(start, query.resolution, revisions),
                passed=sample_passed(start, query.resolution, now),
            )
            if data is None:
                continue
            grain = (query.campaign, metric_type, segment_key, utc_text(start), query.resolution)
            out.append(
                f'      <sample start="{start:%Y-%m-%dT%H:%M}" duration="{query.resolution}">\n'
            )
            for recipe, values in data.items():
                out.append(f"         <recipe name={quoteattr(recipe)}>\n")
                for index, (step, value) in enumerate(values["steps"].items()):
                    close = "steps" if self.malformed and index == 1 else "step"
                    out.append(f"            <step name={quoteattr(step)}>{value}</{close}>\n")
                    served["steps"].keys.append((*grain, recipe, step))
                out.append(f"            <amount>{values['amount']}</amount>\n")
                served["recipes"].keys.append((*grain, recipe))
                out.append("            <engagementMetrics>\n")
                for step, (count, total, squares) in values["engagement"].items():
                    out.append(
                        f"               <engagement stepName={quoteattr(step)} "
                        f'count="{count}" total="{total:.5f}"{sep}sumOfSquares="{squares:.5f}"/>\n'
                    )
                    served["engagement"].keys.append((*grain, recipe, step))
                out.append("            </engagementMetrics>\n         </recipe>\n")
            out.append("      </sample>\n")
        out.append("   </report>\n")
        return "".join(out)


class ReportQuery(t.NamedTuple):
    campaign: int
    start: dt.datetime
    end: dt.datetime
    resolution: str
    metric_type: str | None
    segment: str | None
    include_deleted: bool
    filter_extreme: bool

    @classmethod
    def from_request(cls, request: SandboxRequest) -> ReportQuery:
        """The documented parameters, checked as strictly as the real API (case-sensitive)."""
        campaign = request.param("campaignId") or ""
        if not campaign.isdigit():
            raise ValueError("campaignId is required.")
        try:
            start = dt.datetime.strptime(request.param("start") or "", "%Y-%m-%dT%H:%M")
            end = dt.datetime.strptime(request.param("end") or "", "%Y-%m-%dT%H:%M")
        except ValueError:
            raise ValueError("start and end must be YYYY-MM-DDTHH:mm.") from None
        if end <= start:
            raise ValueError("end must be after start (it is exclusive).")
        resolution = request.param("resolution", "day") or "day"
        if resolution not in RESOLUTIONS:
            raise ValueError(f"Unknown resolution {resolution}.")
        metric_type = request.param("type")
        if metric_type is not None and metric_type not in METRIC_TYPES:
            raise ValueError(f"Unknown type {metric_type}.")
        if request.param("environment", "Production") not in ENVIRONMENTS:
            raise ValueError("Unknown environment.")
        flags = {}
        for name in ("includeDeletedReportRows", "filterExtremeOrders"):
            value = request.param(name, "false")
            if value not in ("true", "false"):
                raise ValueError(f"{name} must be true or false.")
            flags[name] = value == "true"
        return cls(
            int(campaign),
            start,
            end,
            resolution,
            metric_type,
            request.param("segment"),
            flags["includeDeletedReportRows"],
            flags["filterExtremeOrders"],
        )


def error(message: str, code: int, *, http_status: int = 200) -> SandboxResponse:
    body = f"<error>\n   <message>{escape(message)}</message>\n   <code>{code}</code>\n</error>\n"
    return SandboxResponse(http_status, body.encode(), "text/xml")
