"""The emulators' one clock: like the real vendors, they serve nothing for the days after
their today and only what has happened so far of today (issue 14: a range reaching into
the future must not come back with data for it). Every vendor is asked over HTTP for a
range spanning yesterday, today and tomorrow at a frozen instant."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import Counter

import pytest
import requests
from lxml import etree

from tap_perfreports.clock import SANDBOX_NOW_ENV
from tap_perfreports.sandbox import adobe_target, citygrid, infinity, mintegral, plumvoice
from tap_perfreports.sandbox.emulator import EmulatorClock
from tap_perfreports.sandbox.server import SandboxServer
from tests.test_sandbox_restatement import (
    XML,
    adobe_body,
    citygrid_body,
    infinity_body,
    mintegral_body,
    mintegral_call,
    mintegral_table,
    plumvoice_body,
    plumvoice_table,
)

D = dt.date
#: 12:30 UTC: 07:30 in New York (Plum Voice), 04:30 on CityGrid's Pacific reporting day
#: that began at 21:00, 20:30 in +8 (Mintegral).
NOW = dt.datetime(2026, 11, 20, 12, 30, tzinfo=dt.UTC)
YESTERDAY, TODAY, TOMORROW = D(2026, 11, 19), D(2026, 11, 20), D(2026, 11, 21)
#: The day after tomorrow: a range ending on it spans tomorrow whether its end is
#: inclusive or exclusive.
AFTER_TOMORROW = D(2026, 11, 22)


@pytest.fixture
def server(sandbox: SandboxServer) -> SandboxServer:
    """The sandbox with every emulator frozen at NOW."""
    for emulator in sandbox.emulators.values():
        emulator.now = NOW
    sandbox.emulators["mintegral"].generation_delay = 0.0  # type: ignore[attr-defined]
    return sandbox


def test_the_five_emulators_share_one_clock(sandbox, monkeypatch):
    emulators = sandbox.emulators
    assert {type(emulator).clock for emulator in emulators.values()} == {EmulatorClock.clock}
    monkeypatch.setenv(SANDBOX_NOW_ENV, "2026-03-09T04:00:00-05:00")
    frozen = dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)
    assert {key: emulator.clock() for key, emulator in emulators.items()} == dict.fromkeys(
        emulators, frozen
    )
    emulators["infinity"].now = NOW  # a test's instant wins over the environment's
    assert {key: emulator.clock() for key, emulator in emulators.items()} == {
        **dict.fromkeys(emulators, frozen),
        "infinity": NOW,
    }


def test_plum_voices_rate_limit_keeps_the_real_time(server):
    started = time.time()
    answer = requests.get(
        f"{server.url('plumvoice')}/performance/20261119/20261119/day/ALL",
        auth=(plumvoice.USERNAME, plumvoice.PASSWORD),
        timeout=10,
    )
    reset = int(answer.headers["X-RateLimit-Reset"])
    assert started < reset <= time.time() + plumvoice.DOCUMENTED_WINDOW_SECONDS


# Infinity: events up to the instant


def infinity_rows(server: SandboxServer, route: str, **params: str) -> list[dict]:
    body = infinity_body(server, route, YESTERDAY, AFTER_TOMORROW, tz="UTC", **params)
    return [json.loads(line) for line in body.splitlines()]


def test_infinity_serves_the_events_up_to_now(server):
    events = infinity_rows(server, "triggers/all", **{"sort[]": "rowId-asc"})
    served: dict[D, list[int]] = {}
    for event in events:
        served.setdefault(D.fromisoformat(event["triggerDatetime"][:10]), []).append(event["rowId"])
    assert set(served) == {YESTERDAY, TODAY}
    assert served[YESTERDAY] == [e["rowId"] for e in infinity.events_on(1001, YESTERDAY)]
    today = infinity.events_on(1001, TODAY)
    so_far = [e["rowId"] for e in today if e["triggerDatetime"] <= NOW]
    assert served[TODAY] == so_far
    assert 0 < len(so_far) < len(today)
    assert max(event["triggerDatetime"] for event in events) <= "2026-11-20 12:30:00"


def test_infinity_channel_metrics_count_the_same_events(server):
    events = infinity_rows(server, "triggers/all")
    channels = infinity_rows(server, "metrics/channels")
    assert {row["ch"]: row["triggerCount"] for row in channels} == Counter(
        event["ch"] for event in events
    )
    assert sum(row["revenue"] for row in channels) == pytest.approx(
        sum(event["revenue"] for event in events)
    )
    calls = infinity_rows(server, "triggers/calls")
    assert sum(row["callCount"] for row in channels) == len(calls)


# Plum Voice: today's calls so far, none tomorrow

#: 07:30 in New York.
PLUM_PASSED = 7.5 / 24


def plum_calls(server: SandboxServer, phone: str, period: str) -> dict[D, int]:
    table = plumvoice_table(plumvoice_body(server, YESTERDAY, TOMORROW, period, phone))
    return {day: int(values["calls"]) for day, values in table.items()}


def test_plum_voice_counts_todays_calls_so_far_and_none_tomorrow(server):
    phones = {phone: plum_calls(server, phone, "day") for phone in plumvoice.PHONES}
    for phone, calls in phones.items():
        full = {day: plumvoice.day_totals(phone, day).calls for day in (YESTERDAY, TODAY)}
        assert calls == {
            YESTERDAY: full[YESTERDAY],
            TODAY: math.floor(full[TODAY] * PLUM_PASSED),
            TOMORROW: 0,
        }
    every = plum_calls(server, plumvoice.ALL, "day")
    assert every == {day: sum(calls[day] for calls in phones.values()) for day in every}
    assert 0 < every[TODAY] < plumvoice.day_totals(plumvoice.ALL, TODAY).calls
    table = plumvoice_table(plumvoice_body(server, YESTERDAY, TOMORROW, "day", plumvoice.ALL))
    assert set(table[TOMORROW].values()) == {"0"}


@pytest.mark.parametrize("period", ["week", "month"])
def test_plum_voice_weeks_and_months_add_up_the_days(server, period):
    days = plum_calls(server, plumvoice.ALL, "day")
    (calls,) = plum_calls(server, plumvoice.ALL, period).values()  # the week of 11-16, November
    assert calls == sum(days.values())


# Adobe Target: the sample in progress is partial, later samples absent


def adobe_samples(server: SandboxServer, first: D, last: D, resolution: str) -> dict:
    """(type, segment key, sample start) -> recipe -> step -> value."""
    samples: dict = {}
    for report in etree.fromstring(adobe_body(server, first, last, resolution), XML):
        segment = report.get("segmentId") or adobe_target.AGGREGATE
        for sample in report:
            start = dt.datetime.fromisoformat(sample.attrib["start"])
            samples[(report.get("type"), segment, start)] = {
                recipe.get("name"): {s.get("name"): float(s.text) for s in recipe.iter("step")}
                for recipe in sample
            }
    return samples


def adobe_truth(key: tuple, resolution: str, passed: float = 1.0) -> dict | None:
    """What the emulator serves for a sample, as `adobe_samples` reads it."""
    metric_type, segment, start = key
    data = adobe_target.sample(7, metric_type, segment, resolution, start, passed=passed)
    return data and {recipe: values["steps"] for recipe, values in data.items()}


def grains(starts: list[dt.datetime]) -> list[tuple]:
    """Every (type, segment key, sample start) a report with every segment may hold."""
    segments = [*adobe_target.SEGMENTS, adobe_target.AGGREGATE]
    return [(m, s, start) for m in adobe_target.METRIC_TYPES for s in segments for start in starts]


def test_adobe_target_serves_todays_sample_so_far_and_none_of_tomorrow(server):
    samples = adobe_samples(server, YESTERDAY, TOMORROW, "day")
    midnights = [dt.datetime.combine(day, dt.time()) for day in (YESTERDAY, TODAY, TOMORROW)]
    keys = grains(midnights)
    assert {key[2] for key in samples} == set(midnights[:2])
    for key in keys:
        if key[2] == midnights[0]:
            assert samples.get(key) == adobe_truth(key, "day")
        elif key[2] == midnights[1]:
            assert samples.get(key) == adobe_truth(key, "day", passed=12.5 / 24)
    today = [key for key in keys if key in samples and key[2] == midnights[1]]
    assert len(today) > 5
    for key in today:
        full = adobe_truth(key, "day")
        assert full is not None
        for recipe, steps in samples[key].items():
            assert 0 < steps["Entry"] < full[recipe]["Entry"]


def test_adobe_targets_hour_in_progress_is_partial(server):
    samples = adobe_samples(server, TODAY, TODAY, "hour")
    noon = dt.datetime.combine(TODAY, dt.time(12))
    assert max(key[2] for key in samples) == noon
    hours = [noon - dt.timedelta(hours=1), noon]
    for key in grains(hours):
        passed = 0.5 if key[2] == noon else 1.0
        assert samples.get(key) == adobe_truth(key, "hour", passed)
    assert sum(key[2] == noon for key in samples) > 5


# CityGrid: presets end at the reporting day in progress


@pytest.mark.parametrize("preset", ["yesterday", "thisMonth", "thisQuarter", "last7Days"])
def test_citygrid_serves_no_day_after_its_reporting_day(server, preset):
    report = json.loads(citygrid_body(server, "application/json", report_time=preset))
    days = [D.fromisoformat(row["date"]) for row in report["daily_results"]]
    assert max(days) == (TODAY if preset.startswith("this") else YESTERDAY)
    assert D.fromisoformat(report["to"]) == max(days)


#: 04:30 on the reporting day that began at 21:00 Pacific.
CITYGRID_PASSED = 7.5 / 24


def test_citygrids_reporting_day_in_progress_has_its_counts_so_far(server):
    query = {"publisher_code": "guest", "view_type": "ads", "report_time": "thisMonth"}
    report = json.loads(citygrid_body(server, "application/json", **query))
    rows = {D.fromisoformat(row["date"]): row for row in report["daily_results"]}

    def truth(day: D, passed: float = 1.0) -> dict | None:
        return citygrid.daily_row("guest", citygrid.PLACEMENTS["guest"], "ads", day, passed=passed)

    past = [day for day in rows if day < TODAY]
    assert YESTERDAY in past
    assert {day: rows[day] for day in past} == {day: truth(day) for day in past}
    assert rows[TODAY] == truth(TODAY, CITYGRID_PASSED)
    assert 0 < rows[TODAY]["impressions"] < truth(TODAY)["impressions"]
    assert report["total_impressions"] == sum(row["impressions"] for row in rows.values())


# Mintegral: published hours only


MINTEGRAL_DIMENSIONS = "Offer,Location"
#: 20:30 in +8: hours 0..18 of today are published (each 1.5 hours after it ends).
MINTEGRAL_HOURS_TODAY = 19


def mintegral_report(server: SandboxServer, granularity: str) -> list[dict[str, str]]:
    body = mintegral_body(server, YESTERDAY, TOMORROW, granularity, MINTEGRAL_DIMENSIONS)
    return mintegral_table(body)


def test_mintegral_serves_the_published_hours_of_today_and_none_of_tomorrow(server):
    hourly = mintegral_report(server, "hourly")
    plus8 = dt.timezone(dt.timedelta(hours=8))
    hours: dict[D, set[int]] = {}
    for row in hourly:
        moment = dt.datetime.fromtimestamp(int(row["Timestamp"]), plus8)
        hours.setdefault(moment.date(), set()).add(moment.hour)
    assert set(hours) == {YESTERDAY, TODAY}
    assert hours[YESTERDAY] == {atom["hour"] for atom in mintegral.atoms_on(YESTERDAY)}
    every_hour_today = {atom["hour"] for atom in mintegral.atoms_on(TODAY)}
    assert hours[TODAY] == {h for h in every_hour_today if h < MINTEGRAL_HOURS_TODAY}
    assert max(every_hour_today) >= MINTEGRAL_HOURS_TODAY  # so something was held back
    status = mintegral_call(
        server,
        1,
        start_time=YESTERDAY,
        end_time=TOMORROW,
        dimension_option=MINTEGRAL_DIMENSIONS,
        time_granularity="hourly",
    ).json()
    assert status["data"] == {"hours": 24 + MINTEGRAL_HOURS_TODAY, "is_complete": False}


def summed(rows: list[dict[str, str]], metric: str) -> Counter[tuple[str, ...]]:
    """A metric by day, offer, location and currency."""
    totals: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        totals[row["Date"], row["Offer Id"], row["Location"], row["Currency"]] += int(row[metric])
    return totals


def test_mintegrals_daily_report_adds_up_the_published_hours(server):
    hourly, daily = mintegral_report(server, "hourly"), mintegral_report(server, "daily")
    assert {row["Date"] for row in daily} == {"20261119", "20261120"}
    for metric in ("Impression", "Click", "Conversion"):
        assert summed(daily, metric) == summed(hourly, metric)
