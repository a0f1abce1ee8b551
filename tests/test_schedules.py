"""The Meltano schedules fire after the day they are for is complete, by the tap's rules.

Each vendor module's `default_end_date(now, settings)` is the tap's own word on the latest
complete day. For every day of a year (both daylight saving transitions included), this
finds the minute the day became complete (every hour of the year, then the minutes of the
hour it happened in) and the first firing of the job's cron (UTC, as Meltano's are) at
or after it. That firing must come at least MIN_MARGIN after the day is complete (a
schedule that fires as the day completes, or before, is the failure this test is for:
the day then waits a whole day for the next firing), and at most MAX_WAIT after (an hour
of daylight saving time plus the margin: a schedule firing long after wastes the day).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import typing as t

import pytest
from ruamel.yaml import YAML

from tap_perfreports.vendors import VENDORS
from tap_perfreports.windows import latest_complete_day
from tests.helpers import REPO

PROJECT = YAML(typ="safe").load((REPO / "meltano.yml").read_text())
YEAR = 2026
MIN_MARGIN = dt.timedelta(minutes=15)
MAX_WAIT = dt.timedelta(minutes=90)
BY_KEY = {vendor.key: vendor for vendor in VENDORS}


def rule(vendor_key: str) -> t.Callable[[dt.datetime, t.Mapping[str, t.Any]], dt.date]:
    """The tap's default end date (tap_perfreports/settings.py: the vendor's own rule, or
    the last day over in UTC)."""
    vendor = BY_KEY[vendor_key]
    return vendor.default_end_date or (lambda now, settings: latest_complete_day(now))


def prod_settings() -> dict[str, dict]:
    prod = next(e for e in PROJECT["environments"] if e["name"] == "prod")
    extractors = prod["config"]["plugins"]["extractors"]
    config = next(p.get("config", {}) for p in extractors if p["name"] == "tap-perfreports")
    return {key: dict(config.get(key) or {}) for key in BY_KEY}


def job_vendors(job_name: str) -> list[str]:
    """The vendors a Meltano job extracts: its extractor's `select` (or, as Meltano does,
    that of the extractor it inherits from: a shard's), or all of them."""
    job = next(j for j in PROJECT["jobs"] if j["name"] == job_name)
    extractors = {p["name"]: p for p in PROJECT["plugins"]["extractors"]}
    vendors = []
    for task in job["tasks"]:
        extractor = extractors[task.split()[0]]
        while "select" not in extractor and extractor.get("inherit_from") in extractors:
            extractor = extractors[extractor["inherit_from"]]
        # vendor streams only: a job also selects the verdicts (perfreports_reconciliation)
        patterns = [pattern.split("_*")[0] for pattern in extractor.get("select", [])]
        selected = [key for key in patterns if key in BY_KEY]
        vendors += selected or list(BY_KEY)
    return vendors


def completions(vendors: list[str], settings: dict[str, dict]) -> dict[dt.date, dt.datetime]:
    """Each day of YEAR -> the minute (UTC) it is complete for every one of `vendors`."""
    days = [dt.date(YEAR, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    done: dict[dt.date, dt.datetime] = {}
    for key in vendors:
        latest, vendor_settings = rule(key), settings[key]
        hour = dt.datetime(YEAR - 1, 12, 30, tzinfo=dt.UTC)
        for day in days:
            while latest(hour, vendor_settings) < day:  # every hour of the year, in order
                hour += dt.timedelta(hours=1)
            minute = hour - dt.timedelta(hours=1)
            assert latest(minute, vendor_settings) < day, f"{key}: two days in one hour"
            while latest(minute, vendor_settings) < day:
                minute += dt.timedelta(minutes=1)
            done[day] = max(done.get(day, minute), minute)
    return done


def misfires(cron: str, vendors: list[str], settings: dict[str, dict]) -> list[str]:
    """The days whose first firing of `cron` after they are complete is too soon or late."""
    minute, hour, *rest = cron.split()
    assert rest == ["*", "*", "*"], f"{cron}: not a daily cron"
    fires_at = dt.time(int(hour), int(minute))
    found = []
    for day, complete in completions(vendors, settings).items():
        firing = dt.datetime.combine(complete.date(), fires_at, dt.UTC)
        if firing < complete:
            firing += dt.timedelta(days=1)
        # The firing's run extracts `day`, by the same functions the tap runs with.
        assert all(rule(key)(firing, settings[key]) >= day for key in vendors)
        wait = firing - complete
        if not MIN_MARGIN <= wait <= MAX_WAIT:
            found.append(
                f"{day}: complete {complete:%m-%d %H:%M}, extracted {firing:%m-%d %H:%M} UTC"
            )
    return found


SCHEDULES = PROJECT["schedules"]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=[s["name"] for s in SCHEDULES])
def test_each_schedule_fires_soon_after_its_day_is_complete_all_year(schedule):
    found = misfires(schedule["interval"], job_vendors(schedule["job"]), prod_settings())
    assert not found, f"{schedule['name']} ({schedule['interval']}): {found[:5]}"


def test_every_job_has_one_schedule():
    assert sorted(s["job"] for s in SCHEDULES) == sorted(j["name"] for j in PROJECT["jobs"])


@pytest.mark.parametrize(
    ("cron", "vendor", "settings"),
    [
        ("30 4 * * *", "citygrid", {}),  # 21:00 Los Angeles is 05:00 UTC in winter
        ("15 4 * * *", "citygrid", {}),  # too early in winter, as the summer time allows
        ("15 5 * * *", "mintegral", {}),  # 01:30 in +8 is 17:30 UTC: a day late
        ("15 0 * * *", "plumvoice", {}),  # midnight in UTC-12 is 12:00 UTC
        ("15 0 * * *", "infinity", {"tz": "America/New_York"}),  # its tz moves the day
        ("5 0 * * *", "adobe_target", {}),  # fires only 5 minutes after midnight UTC
    ],
)
def test_a_schedule_before_the_day_is_complete_is_found(cron, vendor, settings):
    """The check above can fail: each of these misses its day some or all of the year."""
    assert misfires(cron, [vendor], {vendor: settings})


def test_the_schedules_are_what_the_vendor_rules_derive():
    """meltano.yml holds what `python -m orchestrate.schedules` derives from the vendors'
    rules today; a changed rule (say Mintegral's data lag) fails here until it is rerun."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestrate.schedules", "--check"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_meltano_schedule_list_shows_every_schedule(tmp_path):
    env = {
        **os.environ,
        "MELTANO_HUB_URL": "http://127.0.0.1:9",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    done = subprocess.run(
        [str(REPO / ".venv/bin/meltano"), "schedule", "list", "--format=json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    listed = json.loads(done.stdout)["schedules"]["job"]
    jobs = {j["name"]: j["tasks"] for j in PROJECT["jobs"]}
    assert [
        (s["name"], s["cron_interval"], s["job"]["name"], s["job"]["tasks"]) for s in listed
    ] == [(s["name"], s["interval"], s["job"], jobs[s["job"]]) for s in SCHEDULES]
    assert {s["job"]["name"] for s in listed} == set(jobs)
