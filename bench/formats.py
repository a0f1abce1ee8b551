"""The vendor formats `bench/run.py` measures: how to configure the tap for a share, which
sandbox requests carry rows, and the limit for each (a bare loop that parses the same
bodies and writes Singer RECORD lines with msgspec, the fastest JSON encoder at hand).

Each format runs against a sandbox at one scale; `config(base, share)` extracts `share`
of its full volume (about 1,000,000 rows) by taking fewer days, or fewer of the
partitions the scale adds (publisher codes, phones, campaigns).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import itertools
import math
import time
import typing as t
from collections import defaultdict

import msgspec
from lxml import etree

from tap_perfreports.sandbox import adobe_target as adobe_sandbox
from tap_perfreports.sandbox import citygrid as citygrid_sandbox
from tap_perfreports.sandbox import infinity as infinity_sandbox
from tap_perfreports.sandbox import mintegral as mintegral_sandbox
from tap_perfreports.sandbox import plumvoice as plum_sandbox
from tap_perfreports.vendors.mintegral import auth_headers

Ledger = list[dict[str, t.Any]]

#: The instant every format is measured at (`TAP_PERFREPORTS_SANDBOX_NOW` for the sandbox
#: and the taps): the fixed ranges below then stay inside every vendor's history limit
#: (Mintegral keeps half a year) and before the sandbox's today, whatever the real date.
BENCH_NOW = "2026-11-01T12:00:00+00:00"

INFINITY_ROUTE = "triggers/all"
INFINITY_DISPLAY = ["act", "vid", "ch", "goal", "srcPhoneNumber", "ip", "host", "whois", "revenue"]
INFINITY_PAGE = 10_000
#: Hourly at a fine grain, so that rows grow with the sandbox's volume.
MINTEGRAL_DIMENSIONS = ["Offer", "AdType", "Location", "AdOutputType", "Sub"]
#: How many days the tap may ask Mintegral for at once (documented).
MINTEGRAL_SPAN = 7
PLUM_WINDOW_DAYS = 366
ADOBE_WINDOW_DAYS = 31
ADOBE_METRIC_TYPES = 3
#: Adobe's throttle (50 requests a minute) lifted, in the tap and in the sandbox: the
#: figures measure records and latency, not the pacing (tested on its own).
ADOBE_UNTHROTTLED = {"requests_per_window": 10**6, "window_seconds": 1}
ADOBE_UNTHROTTLED_ENV = "1000000/1"


class Format(t.NamedTuple):
    """One vendor format: the tap's config for a share of it, and how to read its bodies."""

    name: str
    vendor: str
    #: the sandbox's --scale
    scale: int
    config: t.Callable[[str, float], dict]
    #: Whether a ledger request's body holds rows (the bodies the limit loop parses)
    carries_rows: t.Callable[[dict], bool]
    headers: t.Callable[[dict], dict[str, str]]
    #: bare loop: body -> number of RECORD lines written to `sink`
    limit: t.Callable[[bytes, t.IO[bytes]], int]
    #: the fewest requests the API's limits allow for the ledger's rows; polls apart
    minimum: t.Callable[[Ledger], int]
    sandbox_env: dict[str, str] = {}

    def requests_made(self, ledger: Ledger) -> int:
        return sum(1 for r in ledger if r["vendor"] == self.vendor)


def day(start: str, days: float) -> str:
    """The last day of `days` days (rounded) from `start`."""
    return (dt.date.fromisoformat(start) + dt.timedelta(days=round(days) - 1)).isoformat()


def tap_config(vendor: str, settings: dict, start: str, days: float | None = None) -> dict:
    """A sandbox config extracting one vendor from `start`, for `days` days (None: up to
    the vendor's latest complete day)."""
    config: dict[str, t.Any] = {"sandbox": True, "start_date": start, vendor: settings}
    if days is not None:
        config["end_date"] = day(start, days)
    return config


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def share_of(items: t.Sequence[t.Any], share: float) -> list[t.Any]:
    return list(items[: max(1, round(len(items) * share))])


_encode = msgspec.json.Encoder().encode_into
_decode = msgspec.json.Decoder().decode


def _write(records: t.Iterable[dict], sink: t.IO[bytes]) -> int:
    out = bytearray()
    rows = 0
    for record in records:
        _encode({"type": "RECORD", "stream": "s", "record": record}, out, -1)
        out += b"\n"
        rows += 1
    sink.write(out)
    return rows


# Infinity: JSON lines, limit/offset pages inside 31-day windows


def infinity(days: int = 250, scale: int = 50) -> Format:
    def config(base: str, share: float) -> dict:
        settings = {
            "api_url": f"{base}/infinity/reports/v2",
            "igrps": list(infinity_sandbox.INSTALLATIONS),
            "reports": [{"name": "triggers", "route": INFINITY_ROUTE, "display": INFINITY_DISPLAY}],
        }
        return tap_config("infinity", settings, "2026-01-01", days * share)

    def minimum(ledger: Ledger) -> int:
        """Per installation and window, every full page and one short page."""
        rows: dict[tuple, int] = defaultdict(int)
        for r in ledger:
            if r["vendor"] == "infinity" and "/triggers/" in r["path"]:
                rows[tuple(r["query"][k][0] for k in ("igrp", "startDate", "endDate"))] += r["rows"]
        return sum(n // INFINITY_PAGE + 1 for n in rows.values())

    login = basic_auth(infinity_sandbox.USERNAME, infinity_sandbox.PASSWORD)
    return Format(
        "Infinity JSON lines",
        "infinity",
        scale,
        config,
        lambda r: r["vendor"] == "infinity" and "/triggers/" in r["path"],
        lambda r: login,
        lambda body, sink: _write(map(_decode, filter(None, body.splitlines())), sink),
        minimum,
    )


# Mintegral: report jobs, TSV downloads of at most 7 days


def mintegral(days: int = 140, scale: int = 260) -> Format:
    def config(base: str, share: float) -> dict:
        report = {"name": "bench", "dimensions": MINTEGRAL_DIMENSIONS, "time_granularity": "hourly"}
        settings = {
            "api_url": f"{base}/mintegral/api/v2",
            "max_concurrent_jobs": 8,
            "reports": [report],
        }
        return tap_config("mintegral", settings, "2026-06-01", days * share)

    def minimum(ledger: Ledger) -> int:
        """A job and a download per 7 days; the polls in between are counted apart."""
        downloads = [r for r in ledger if r["vendor"] == "mintegral" and _is_download(r)]
        days = {(d["query"]["start_time"][0], d["query"]["end_time"][0]) for d in downloads}
        span = sum(_days(*window) for window in days)
        return 2 * math.ceil(span / MINTEGRAL_SPAN)

    def limit(body: bytes, sink: t.IO[bytes]) -> int:
        lines = body.decode().splitlines()
        header = lines[0].split("\t") if lines else []
        return _write(
            (dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]), sink
        )

    return Format(
        "Mintegral TSV",
        "mintegral",
        scale,
        config,
        lambda r: r["vendor"] == "mintegral" and _is_download(r),
        lambda r: auth_headers(
            mintegral_sandbox.ACCESS_KEY, mintegral_sandbox.API_KEY, int(time.time())
        ),
        limit,
        minimum,
    )


def _is_download(request: dict) -> bool:
    return request["query"].get("type") == ["2"] and request["status"] == 200


def _days(first: str, last: str) -> int:
    return (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1


def mintegral_polls(ledger: Ledger) -> int:
    """Job requests after the one that submitted each job: the tap asking 'is it ready?'."""
    jobs = [r for r in ledger if r["vendor"] == "mintegral" and r["query"].get("type") == ["1"]]
    return len(jobs) - len(
        {tuple(sorted((k, tuple(v)) for k, v in r["query"].items())) for r in jobs}
    )


# CityGrid: one request per publisher code, view type and preset


def citygrid(fmt: str, scale: int = 1000) -> Format:
    first, presets = citygrid_cover()

    codes = list(citygrid_sandbox.placements(scale))

    def config(base: str, share: float) -> dict:
        settings = {
            "api_url": f"{base}/citygrid",
            "format": fmt,
            "publisher_codes": share_of(codes, share),
        }
        return tap_config("citygrid", settings, first.isoformat())

    def minimum(ledger: Ledger) -> int:
        """Per code and view type, the fewest presets that cover the days."""
        asked = {
            (r["query"]["publisher_code"][0], r["query"]["view_type"][0])
            for r in ledger
            if r["vendor"] == "citygrid" and "publisher_code" in r["query"]
        }
        return presets * len(asked)

    login = basic_auth(citygrid_sandbox.USERNAME, citygrid_sandbox.PASSWORD)
    media = {"json": "application/json", "csv": "application/csv"}[fmt]
    return Format(
        f"CityGrid {fmt.upper()}",
        "citygrid",
        scale,
        config,
        lambda r: r["vendor"] == "citygrid" and "publisher_code" in r["query"],
        lambda r: {**login, "Accept": media},
        _limit_citygrid_json if fmt == "json" else _limit_citygrid_csv,
        minimum,
    )


CITYGRID_PRESETS = (
    "yesterday", "last7Days", "last14Days", "last30Days", "lastWeek", "lastBusinessWeek",
    "thisMonth", "lastMonth", "last3Months", "thisQuarter", "lastQuarter",
)  # fmt: skip


def citygrid_cover() -> tuple[dt.date, int]:
    """The oldest day a preset reaches today, and how few presets cover it up to yesterday
    (by brute force over the sandbox's own calendar, not the tap's)."""
    today = citygrid_sandbox.current_reporting_day(dt.datetime.now(dt.UTC))
    spans = [citygrid_sandbox.report_range(p, today) for p in CITYGRID_PRESETS]
    first = min(span[0] for span in spans if span)
    needed = {first + dt.timedelta(n) for n in range((today - first).days)}
    for count in range(1, len(spans) + 1):
        for chosen in itertools.combinations([s for s in spans if s], count):
            covered = {a + dt.timedelta(n) for a, b in chosen for n in range((b - a).days + 1)}
            if needed <= covered:
                return first, count
    raise AssertionError("the presets do not cover their own days")


def _limit_citygrid_json(body: bytes, sink: t.IO[bytes]) -> int:
    return _write(_decode(body)["daily_results"], sink)


def _limit_citygrid_csv(body: bytes, sink: t.IO[bytes]) -> int:
    reader = csv.reader(io.StringIO(body.decode()))
    header = next(reader)
    rows = (dict(zip(header, cells, strict=True)) for cells in reader if cells[0] != "Total: ")
    return _write(rows, sink)


# Plum Voice: one request per phone and 366 days, metrics pivoted by timestamp


def plumvoice(fmt: str, days: int = 730, scale: int = 274) -> Format:
    def config(base: str, share: float) -> dict:
        settings = {
            "api_url": f"{base}/plumvoice/api",
            "format": fmt,
            "phones": share_of(plum_sandbox.phones(scale), share),
        }
        return tap_config("plumvoice", settings, "2024-01-01", days)

    def minimum(ledger: Ledger) -> int:
        """Per phone, one request per 366 days."""
        phones = {r["path"].rsplit("/", 1)[-1] for r in ledger if r["vendor"] == "plumvoice"}
        return len(phones) * math.ceil(days / PLUM_WINDOW_DAYS)

    login = basic_auth(plum_sandbox.USERNAME, plum_sandbox.PASSWORD)
    accept = {"json": "application/json", "xml": "application/xml"}[fmt]
    return Format(
        f"Plum Voice {fmt.upper()}",
        "plumvoice",
        scale,
        config,
        lambda r: r["vendor"] == "plumvoice" and r["status"] == 200,
        lambda r: {**login, "Accept": accept},
        _limit_plum_json if fmt == "json" else _limit_plum_xml,
        minimum,
        # no rate limit to speak of: this measures records, not waiting
        {plum_sandbox.RATE_LIMIT_ENV: "1000000/1"},
    )


def _pivot(series: dict[str, dict[str, t.Any]]) -> list[dict]:
    rows: dict[str, dict] = {}
    for metric, values in series.items():
        for stamp, value in values.items():
            rows.setdefault(stamp, {"period_start": stamp})[metric] = value
    return list(rows.values())


def _limit_plum_json(body: bytes, sink: t.IO[bytes]) -> int:
    return _write(_pivot(_decode(body)), sink)


def _limit_plum_xml(body: bytes, sink: t.IO[bytes]) -> int:
    root = etree.fromstring(body)
    series = {metric.tag: {i.get("timestamp"): i.text for i in metric} for metric in root}
    return _write(_pivot(series), sink)


# Adobe Target: one XML request per campaign, metric type and 31 days, three streams


def adobe_target(days: int = 24, scale: int = 100) -> Format:
    def config(base: str, share: float) -> dict:
        settings = {
            "api_url": f"{base}/adobe_target/api",
            "campaign_ids": share_of(adobe_sandbox.campaigns(scale), share),
            "segments": "all",
            **ADOBE_UNTHROTTLED,
        }
        return tap_config("adobe_target", settings, "2026-01-01", days)

    def minimum(ledger: Ledger) -> int:
        campaigns = {r["query"]["campaignId"][0] for r in ledger if r["vendor"] == "adobe_target"}
        return len(campaigns) * ADOBE_METRIC_TYPES * math.ceil(days / ADOBE_WINDOW_DAYS)

    return Format(
        "Adobe Target XML",
        "adobe_target",
        scale,
        config,
        lambda r: r["vendor"] == "adobe_target" and r["status"] == 200,
        lambda r: {},
        _limit_adobe,
        minimum,
        # no throttle to speak of: this measures records, not waiting
        {adobe_sandbox.RATE_LIMIT_ENV: ADOBE_UNTHROTTLED_ENV},
    )


def _limit_adobe(body: bytes, sink: t.IO[bytes]) -> int:
    """Steps, recipes and engagement rows, keyed by report and sample attributes."""
    records = []
    for report in etree.fromstring(body):
        grain = dict(report.attrib)
        for sample in report:
            at = {**grain, "sample_start": sample.get("start"), "duration": sample.get("duration")}
            for recipe in sample:
                row = {**at, "recipe_name": recipe.get("name")}
                for child in recipe:
                    if child.tag == "step":
                        records.append({**row, "step_name": child.get("name"), "value": child.text})
                    elif child.tag == "amount":
                        records.append({**row, "amount": child.text})
                    else:
                        records += ({**row, **e.attrib} for e in child)
    return _write(records, sink)


def all_formats(tenth: int = 1) -> list[Format]:
    """Every format, at a tenth of the volume when `tenth` is 10 (`--quick`)."""
    return [
        infinity(scale=50 // tenth),
        mintegral(scale=260 // tenth),
        citygrid("json", scale=1000 // tenth),
        citygrid("csv", scale=1000 // tenth),
        plumvoice("json", scale=274 // tenth),
        plumvoice("xml", scale=274 // tenth),
        adobe_target(scale=100 // tenth),
    ]
