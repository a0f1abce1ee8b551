"""Adobe Target's other pages, emulated: half-open ranges and the 50-a-minute throttle.

Every landed row is compared, value by value, with the emulator's own samples, computed
here from the resolution's calendar rather than from what the emulator served.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections import Counter

import pytest
import requests

from tap_perfreports.sandbox import adobe_target as emulated
from tap_perfreports.vendors.adobe_target import STREAMS
from tests.helpers import run_tap, sandbox_config

STEPS, RECIPES, ENGAGEMENT = "adobe_target_steps", "adobe_target_recipes", "adobe_target_engagement"


def sample_starts(first: dt.date, last: dt.date, resolution: str) -> list[dt.datetime]:
    """Every sample of [first, last] (whole days; `first` starts a week or month)."""
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time())
    starts = []
    while True:
        if resolution == "month":
            following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        else:
            hours = {"hour": 1, "day": 24, "week": 24 * 7}[resolution]
            following = start + dt.timedelta(hours=hours)
        if following > end:
            return starts
        starts.append(start)
        start = following


def truth(
    campaigns: t.Iterable[int],
    metric_types: t.Iterable[str],
    starts: list[dt.datetime],
    resolution: str,
) -> dict[str, Counter]:
    """The rows of each stream, as the emulator's data says, for the aggregate segment."""
    rows: dict[str, Counter] = {name: Counter() for name in STREAMS}
    for campaign in campaigns:
        for metric_type in metric_types:
            for start in starts:
                data = emulated.sample(campaign, metric_type, "aggregate", resolution, start)
                if data is None:
                    continue
                grain = {
                    "campaign_id": campaign,
                    "metric_type": metric_type,
                    "segment_id": "aggregate",
                    "segment_name": None,
                    "sample_start": emulated.utc_text(start),
                    "duration": resolution,
                }
                for recipe, values in data.items():
                    grain["recipe_name"] = recipe
                    for position, (step, value) in enumerate(values["steps"].items(), 1):
                        row = {**grain, "step_name": step, "step_position": position}
                        rows[STEPS][frozen({**row, "value": value})] += 1
                    recipe_row = {**grain, "is_summary": recipe == "Campaign"}
                    rows[RECIPES][frozen({**recipe_row, "amount": values["amount"]})] += 1
                    for step, (count, total, squares) in values["engagement"].items():
                        row = {**grain, "step_name": step, "count": count, "total": total}
                        rows[ENGAGEMENT][frozen({**row, "sum_of_squares": squares})] += 1
    return rows


def frozen(row: t.Mapping[str, t.Any]) -> tuple:
    return tuple(sorted(row.items()))


def assert_lands_exactly(run, expected: dict[str, Counter]) -> None:
    """Every expected row once, with its values, and nothing else, in every stream."""
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in STREAMS:
        landed = Counter(frozen(r) for r in run.records(stream))
        twice = [row for row, n in landed.items() if n > 1]
        assert not twice, f"{stream}: {len(twice)} rows emitted twice, first {twice[0]}"
        lost = expected[stream] - landed
        assert not lost, f"{stream}: {len(lost)} rows lost or with other values"
        extra = landed - expected[stream]
        assert not extra, f"{stream}: {len(extra)} rows that are not in the data"


def report_requests(sandbox) -> list:
    return [r for r in sandbox.ledger.requests if r.vendor == "adobe_target"]


RESOLUTIONS = {
    # resolution: (first day, last day): three windows each (2, 31, 91 and 366 days)
    "hour": (dt.date(2026, 8, 1), dt.date(2026, 8, 6)),
    "day": (dt.date(2026, 6, 1), dt.date(2026, 8, 15)),
    "week": (dt.date(2026, 1, 5), dt.date(2026, 8, 9)),  # Monday to Sunday
    "month": (dt.date(2024, 1, 1), dt.date(2026, 6, 30)),
}


@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
def test_half_open_windows_land_every_sample_once_at_every_resolution(sandbox, resolution):
    first, last = RESOLUTIONS[resolution]
    settings = {"resolution": resolution, "campaign_ids": [7], "metric_types": ["visit"]}
    config = sandbox_config(
        sandbox, "adobe_target", first.isoformat(), last.isoformat(), **settings
    )
    run = run_tap(config)
    starts = sample_starts(first, last, resolution)
    assert_lands_exactly(run, truth([7], ["visit"], starts, resolution))
    # three windows, each ending at the first minute of the next: no gap, no overlap
    ranges = sorted((r.query["start"][0], r.query["end"][0]) for r in report_requests(sandbox))
    assert len(ranges) == 3
    assert ranges[0][0] == f"{first}T00:00"
    assert ranges[-1][1] == f"{last + dt.timedelta(days=1)}T00:00"
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(2))


@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
def test_an_end_at_2359_would_lose_the_last_sample_of_a_range(sandbox, resolution):
    """What the tap sent before: `end=...T23:59` leaves out the last minute, so the
    emulator, which serves whole samples of [start, end), leaves out the last sample."""
    first, last = RESOLUTIONS[resolution]
    url = sandbox.url("adobe_target")
    base = {
        "client": emulated.CLIENT,
        "email": emulated.EMAIL,
        "password": emulated.PASSWORD,
        "operation": "report",
        "version": "2",
        "campaignId": "7",
        "type": "visit",
        "resolution": resolution,
        "start": f"{first}T00:00",
    }

    def served(end: str) -> list[str]:
        answer = requests.get(url, params={**base, "end": end}, timeout=30)
        assert answer.status_code == 200
        return [s.split('"')[1] for s in answer.text.split("<sample start=")[1:]]

    whole = served(f"{last + dt.timedelta(days=1)}T00:00")
    expected = [
        f"{s:%Y-%m-%dT%H:%M}"
        for s in sample_starts(first, last, resolution)
        if emulated.sample(7, "visit", "aggregate", resolution, s) is not None
    ]
    assert whole == expected
    assert served(f"{last}T23:59") == expected[:-1]


def paced(settings: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
    """The tap's throttle settings for the tests: 50 requests per 2 s window."""
    return {"requests_per_window": 50, "window_seconds": 2, **(settings or {})}


def max_in_any_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max(
        (sum(1 for x in times if start <= x < start + seconds) for start in times), default=0
    )


def backfill(sandbox, campaigns: int, **settings: t.Any) -> tuple[dict, list[int]]:
    """One day of `campaigns` campaigns x 3 metric types: that many x 3 requests."""
    emulator = sandbox.emulators["adobe_target"]
    emulator.scale = campaigns // 2
    ids = list(emulated.campaigns(emulator.scale))[:campaigns]
    config = sandbox_config(
        sandbox,
        "adobe_target",
        "2026-08-01",
        "2026-08-01",
        campaign_ids=ids,
        max_concurrent_requests=4,
        **settings,
    )
    return config, ids


def one_day(ids: list[int]) -> dict[str, Counter]:
    day = sample_starts(dt.date(2026, 8, 1), dt.date(2026, 8, 1), "day")
    return truth(ids, emulated.METRIC_TYPES, day, "day")


def test_a_backfill_of_300_requests_never_exceeds_the_rate_even_fetching_ahead(sandbox):
    """The emulator throttles at 50 per 2 s window; the tap, fetching 4 at once, paces
    itself under it: no request is ever refused, and no 2 s holds more than 50."""
    emulator = sandbox.emulators["adobe_target"]
    emulator.requests_per_window, emulator.window_seconds = 50, 2.0
    config, ids = backfill(sandbox, 100, **paced())
    run = run_tap(config)
    assert_lands_exactly(run, one_day(ids))
    log = emulator.rate_log
    assert len(log) == 300
    assert all(entry.accepted for entry in log), "the tap was throttled"
    arrivals = [entry.at for entry in log]
    assert max_in_any_window(arrivals, 2.0) <= 50
    # and it used the rate: 300 requests in 6 windows, so a little over 10 s
    assert 10.0 <= max(arrivals) - min(arrivals) < 20.0


def test_a_backfill_that_meets_throttled_answers_waits_them_out_and_lands_every_row(sandbox):
    """The account's budget is lower than the tap was told (or shared with other
    clients): the emulator allows 40 per 2 s, the tap sends up to 50. Each throttled
    answer pauses every request for a window; nothing fails, nothing lands twice."""
    emulator = sandbox.emulators["adobe_target"]
    emulator.requests_per_window, emulator.window_seconds = 40, 2.0
    config, ids = backfill(sandbox, 100, **paced())
    run = run_tap(config)
    assert_lands_exactly(run, one_day(ids))
    log = emulator.rate_log
    refused = [entry for entry in log if not entry.accepted]
    assert refused, "no throttled answer: the test would prove nothing"
    assert len([entry for entry in log if entry.accepted]) == 300
    assert max_in_any_window([e.at for e in log if e.accepted], 2.0) <= 40
    assert max_in_any_window([e.at for e in log], 2.0) <= 50
    # a throttle is a wait, not a storm: at most the requests in flight get refused each time
    assert len(refused) <= 4 * (1 + len(log) // 40)
    assert "the API throttled the request" in run.stderr
    assert "pausing every request for 2.0s" in run.stderr


@pytest.mark.parametrize("answer", emulated.THROTTLE_ANSWERS)
def test_every_form_of_throttled_answer_is_a_wait_not_a_failure(sandbox, answer):
    emulator = sandbox.emulators["adobe_target"]
    emulator.requests_per_window, emulator.window_seconds = 2, 1.0
    emulator.throttle_answer = answer
    settings = paced({"window_seconds": 1, "max_concurrent_requests": 1})
    config = sandbox_config(
        sandbox, "adobe_target", "2026-08-01", "2026-08-03", campaign_ids=[7], **settings
    )
    run = run_tap(config)
    starts = sample_starts(dt.date(2026, 8, 1), dt.date(2026, 8, 3), "day")
    assert_lands_exactly(run, truth([7], emulated.METRIC_TYPES, starts, "day"))
    assert [entry.accepted for entry in emulator.rate_log] == [True, True, False, True]
    refused, retried = emulator.rate_log[2:]
    assert retried.at - refused.at >= 1.0, "retried before the window had passed"
