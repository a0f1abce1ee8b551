"""Plum Voice through the CLI against the sandbox: ground truth, periods, state, pacing."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re

import pytest

from tap_perfreports.sandbox import plumvoice as emulated
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import run_tap, sandbox_config

STREAM = "plumvoice_performance"
METRICS = emulated.METRICS


def config(sandbox, start: str, end: str, **settings):
    return sandbox_config(sandbox, "plumvoice", start, end, **settings)


def local_day(record: dict) -> dt.date:
    """The account-local day a period starts on (the sandbox account is in New York)."""
    moment = dt.datetime.fromisoformat(record["period_start"])
    return moment.astimezone(emulated.ACCOUNT_TZ).date()


def assert_matches_ground_truth(run, sandbox) -> list[dict]:
    """Every served period landed once, with the values of the whole period."""
    records = run.records(STREAM)
    keys = [(r["phone"], r["period"], r["period_start"]) for r in records]
    assert len(keys) == len(set(keys)), "a period was emitted twice"
    assert set(keys) == sandbox.ledger.served_keys(STREAM)
    for record in records:
        truth = emulated.metrics(record["phone"], record["period"], local_day(record))
        assert {m: record[m] for m in METRICS} == truth, record
    return records


def paths(sandbox) -> list[str]:
    return [r.path for r in sandbox.ledger.requests if r.vendor == "plumvoice"]


def test_backfill_lands_every_period_of_every_phone_once(sandbox):
    phones = ["ALL", *emulated.PHONES[:2]]
    run = run_tap(config(sandbox, "2026-01-01", "2026-03-31", phones=phones))
    assert run.returncode == 0, run.stderr
    records = assert_matches_ground_truth(run, sandbox)
    assert len(records) == 3 * 90
    assert {r["phone"] for r in records} == set(phones)
    # the merged view is the sum of the numbers (here of all five sandbox numbers)
    assert sum(r["calls"] for r in records if r["phone"] == "ALL") > 0
    # one request per phone: 90 days fit one window
    assert sorted(paths(sandbox)) == sorted(
        f"/api/performance/20260101/20260331/day/{phone}" for phone in phones
    )
    assert set(run.bookmarks(STREAM).values()) == {"2026-03-31"}


def test_json_and_xml_land_the_same_rows(sandbox):
    settings = {"phones": ["ALL", emulated.PHONES[3]], "period": "week"}
    as_json = run_tap(config(sandbox, "2026-05-04", "2026-08-30", **settings))
    as_xml = run_tap(config(sandbox, "2026-05-04", "2026-08-30", format="xml", **settings))
    assert as_json.returncode == as_xml.returncode == 0, as_xml.stderr
    assert as_json.records(STREAM) == as_xml.records(STREAM)
    assert len(as_xml.records(STREAM)) == 2 * 17
    assert_matches_ground_truth(as_xml, sandbox)


def test_a_week_not_over_yet_is_pulled_again_whole_next_run(sandbox):
    # Wednesday 2026-11-11 ends the first run, inside the week of Monday 2026-11-09
    first = config(sandbox, "2026-10-14", "2026-11-11", period="week", lookback_days=0)
    run = run_tap(first)
    assert run.returncode == 0, run.stderr
    # start_date is a Wednesday too: its whole week is asked for, from Monday
    assert paths(sandbox) == ["/api/performance/20261012/20261111/week/ALL"]
    assert set(run.bookmarks(STREAM).values()) == {"2026-11-11"}
    unfinished = next(r for r in run.records(STREAM) if local_day(r) == dt.date(2026, 11, 9))
    whole_week = emulated.metrics("ALL", "week", dt.date(2026, 11, 9))
    assert unfinished["calls"] < whole_week["calls"]  # Monday..Wednesday only

    sandbox.ledger.reset()
    rerun = run_tap({**first, "end_date": "2026-11-22"}, state=run.state)
    assert rerun.returncode == 0, rerun.stderr
    assert paths(sandbox) == ["/api/performance/20261109/20261122/week/ALL"]
    assert [local_day(r) for r in rerun.records(STREAM)] == [
        dt.date(2026, 11, 9),
        dt.date(2026, 11, 16),
    ]
    assert_matches_ground_truth(rerun, sandbox)  # 2026-11-09 now holds the whole week


def test_months_start_on_the_first_and_lookback_reaches_back(sandbox):
    first = config(sandbox, "2026-03-15", "2026-06-30", period="month", lookback_days=0)
    run = run_tap(first)
    assert run.returncode == 0, run.stderr
    assert paths(sandbox) == ["/api/performance/20260301/20260630/month/ALL"]
    assert [local_day(r).isoformat() for r in run.records(STREAM)] == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
        "2026-06-01",
    ]
    assert_matches_ground_truth(run, sandbox)

    sandbox.ledger.reset()
    # June is complete: with no lookback, July is next; 40 days of lookback reach May
    rerun = run_tap({**first, "end_date": "2026-07-31"}, state=run.state)
    assert rerun.returncode == 0, rerun.stderr
    assert paths(sandbox) == ["/api/performance/20260701/20260731/month/ALL"]
    sandbox.ledger.reset()
    first["plumvoice"]["lookback_days"] = 40
    rerun = run_tap({**first, "end_date": "2026-07-31"}, state=run.state)
    assert rerun.returncode == 0, rerun.stderr
    assert paths(sandbox) == ["/api/performance/20260501/20260731/month/ALL"]


def test_day_lookback_and_a_run_with_nothing_new(sandbox):
    first = config(sandbox, "2026-10-01", "2026-10-20", lookback_days=2)
    run = run_tap(first)
    sandbox.ledger.reset()
    rerun = run_tap({**first, "end_date": "2026-10-23"}, state=run.state)
    assert rerun.returncode == 0, rerun.stderr
    assert paths(sandbox) == ["/api/performance/20261019/20261023/day/ALL"]
    assert len(rerun.records(STREAM)) == 5
    sandbox.ledger.reset()
    first["plumvoice"]["lookback_days"] = 0
    idle = run_tap({**first, "end_date": "2026-10-23"}, state=rerun.state)
    assert idle.returncode == 0, idle.stderr
    assert paths(sandbox) == []


def test_a_long_backfill_uses_one_request_per_year_per_phone(sandbox):
    run = run_tap(config(sandbox, "2023-01-01", "2025-12-31", phones=[emulated.PHONES[0]]))
    assert run.returncode == 0, run.stderr
    assert len(paths(sandbox)) == 3
    assert len(assert_matches_ground_truth(run, sandbox)) == 1096


# Rate limit


def windows_used(emulator) -> dict[int, int]:
    """Requests counted per rate-limit window of the sandbox, in window order."""
    return {
        window: len(list(group))
        for window, group in itertools.groupby(emulator.rate_log, key=lambda entry: entry.window)
    }


def test_a_backfill_over_several_rate_limit_windows_gets_no_429_and_never_idles(sandbox):
    emulator = sandbox.emulators["plumvoice"]
    emulator.requests_per_window, emulator.window_seconds = 3, 3.0
    # five numbers, two years of days: two windows each, ten requests at 3 per 3 seconds.
    # The tap keeps its documented defaults (150 per 900s): it must go by the headers.
    settings = {"phones": list(emulated.PHONES)}
    run = run_tap(config(sandbox, "2025-01-01", "2026-06-30", **settings))
    assert run.returncode == 0, run.stderr
    assert_matches_ground_truth(run, sandbox)

    statuses = [r.status for r in sandbox.ledger.requests]
    assert statuses == [200] * 10, "a request was refused or wasted"
    assert all(entry.status == 200 for entry in emulator.rate_log)
    used = windows_used(emulator)
    windows = list(used)
    # consecutive windows: the tap went on as soon as a window reset
    assert windows == list(range(windows[0], windows[0] + len(windows)))
    waits = re.findall(r"Plum Voice rate limit: no requests left in this window", run.stderr)
    # The tap waits only when a window's budget is spent: each wait follows a window used in
    # full. (On a loaded machine a window may also roll over by itself before its budget is
    # spent; that costs nothing and is not a wait.)
    full = [w for w in windows[:-1] if used[w] == 3]
    assert len(waits) <= len(full), (used, len(waits))
    assert "HTTP 429" not in run.stderr


def test_a_429_that_still_arrives_waits_for_the_reset_and_is_logged_once(sandbox):
    emulator = sandbox.emulators["plumvoice"]
    emulator.requests_per_window, emulator.window_seconds = 50, 2.0
    # another client of the account spent the budget: the second request is refused
    sandbox.faults.add(Fault("status", vendor="plumvoice", status=429, skip=1))
    phones = ["ALL", emulated.PHONES[0]]
    run = run_tap(config(sandbox, "2026-10-01", "2026-10-10", phones=phones))
    assert run.returncode == 0, run.stderr
    assert_matches_ground_truth(run, sandbox)

    log = emulator.rate_log
    assert [entry.status for entry in log] == [200, 429, 200]
    refused, retried = log[1], log[2]
    reset = (refused.window + 1) * emulator.window_seconds
    assert retried.at >= reset, "the 429 was retried before the window reset"
    lines = [line for line in run.stderr.splitlines() if "HTTP 429" in line]
    assert len(lines) == 1, lines
    wait = float(re.search(r"retry 1 of 7 in ([\d.]+)s", lines[0]).group(1))
    assert 0 < wait <= emulator.window_seconds + 0.1
    assert "phone=6175550100" in lines[0]


@pytest.mark.parametrize("response_format", ["json", "xml"])
def test_the_embedded_sandbox_takes_its_rate_limit_from_the_environment(response_format):
    env = {**os.environ, emulated.RATE_LIMIT_ENV: "2/1"}
    run = run_tap(
        {
            "sandbox": True,
            "start_date": "2026-10-01",
            "end_date": "2026-10-07",
            "plumvoice": {"phones": list(emulated.PHONES), "format": response_format},
        },
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert len(run.records(STREAM)) == 5 * 7
    # five requests at two per second: the tap waited for (at least) two resets, no 429
    waits = run.stderr.count("Plum Voice rate limit: no requests left")
    assert 1 <= waits <= 2
    assert "HTTP 429" not in run.stderr
