"""Meltano schedules timed after each vendor's day is complete, by the tap's own rules.

Each vendor module says when a reporting day is complete: `VENDOR.default_end_date(now,
settings)` is the latest complete day at `now` (Infinity: midnight in its `tz`; Plum
Voice: midnight in the last time zone, UTC-12; CityGrid: 21:00 America/Los_Angeles;
Mintegral: its data lag after midnight in its report `timezone`; Adobe Target has none
and the tap uses the last day over in UTC). This module asks those functions, for every
day of a year, the minute the day became complete (to the hour first, then the minute),
and times each job's daily cron (UTC, as Meltano's are) at the first whole five minutes
at least MARGIN after the latest of those minutes of the day: the first firing after a
day is complete extracts it, whether daylight saving time is on or not. A shard job (one
share of a vendor's partitions, `orchestrate/meltano_project.py`) fires with its vendor's
job; the all-in-one job waits for the last vendor.

    python -m orchestrate.schedules          # write the schedules into meltano.yml
    python -m orchestrate.schedules --check  # exit 1 if meltano.yml's are not these

The vendor settings that move a vendor's clock (`infinity.tz`, `mintegral.timezone`) are
read from the `prod` environment's extractor config in meltano.yml: after changing them,
run this again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

from orchestrate.meltano_project import shard_jobs
from tap_perfreports.vendor import Vendor
from tap_perfreports.vendors import VENDORS
from tap_perfreports.windows import latest_complete_day

MELTANO_YML = Path(__file__).resolve().parent.parent / "meltano.yml"
#: Time between a day becoming complete and the job that extracts it: clocks drift, and
#: a vendor that publishes a few minutes late should not cost a day.
MARGIN = dt.timedelta(minutes=15)
STEP_MINUTES = 5
#: The year whose days are checked (any year has both daylight saving transitions).
YEAR = 2026
#: The Meltano job that runs every vendor in one tap process (one state).
ALL_IN_ONE_JOB = "perfreports"
ALL_IN_ONE_TASK = "tap-perfreports target-postgres"
MINUTES_PER_DAY = 24 * 60


def end_date_rule(vendor: Vendor) -> t.Callable[[dt.datetime, t.Mapping[str, t.Any]], dt.date]:
    """The tap's default end date for `vendor` (settings._resolve: the vendor's own rule,
    or the last day over in UTC)."""
    return vendor.default_end_date or (lambda now, settings: latest_complete_day(now))


def completed_at(vendor: Vendor, settings: t.Mapping[str, t.Any], day: dt.date) -> dt.datetime:
    """The first minute (UTC) at which the tap counts `day` as complete: scanned hour by
    hour from the day's start in the earliest time zone, then minute by minute."""
    rule = end_date_rule(vendor)
    moment = dt.datetime.combine(day, dt.time(), dt.UTC) - dt.timedelta(hours=14)
    for _ in range(24 * 5):
        if rule(moment, settings) >= day:
            break
        moment += dt.timedelta(hours=1)
    else:
        raise ValueError(f"{vendor.key}: {day} is not complete within four days")
    minute = moment - dt.timedelta(hours=1)
    while rule(minute, settings) < day:
        minute += dt.timedelta(minutes=1)
    return minute


def minute_of_day(moment: dt.datetime) -> int:
    return moment.hour * 60 + moment.minute


def latest_minute(minutes: t.Iterable[int]) -> int:
    """The end of the shortest arc of the 24-hour clock holding every minute (an arc may
    cross midnight: 23:00 in summer and 00:00 in winter end at 00:00)."""
    ordered = sorted(set(minutes))
    gaps = [
        ((ordered[(i + 1) % len(ordered)] - ordered[i]) % MINUTES_PER_DAY or MINUTES_PER_DAY, i)
        for i in range(len(ordered))
    ]
    _, widest = max(gaps)
    return ordered[widest]


def cron_after(minute: int) -> str:
    """A daily UTC cron at the first whole STEP_MINUTES at least MARGIN after `minute`."""
    start = minute + int(MARGIN.total_seconds() // 60)
    start = -(-start // STEP_MINUTES) * STEP_MINUTES % MINUTES_PER_DAY
    return f"{start % 60} {start // 60} * * *"


def year_days(year: int = YEAR) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=n) for n in range((dt.date(year + 1, 1, 1) - first).days)]


@dataclass(frozen=True)
class Schedule:
    name: str
    job: str
    interval: str


def vendor_settings(project: t.Mapping[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    """Each vendor's settings in the `prod` environment (where real accounts run)."""
    prod = next((e for e in project.get("environments", []) if e["name"] == "prod"), {})
    extractors = prod.get("config", {}).get("plugins", {}).get("extractors", [])
    config = next((p.get("config", {}) for p in extractors if p["name"] == "tap-perfreports"), {})
    return {vendor.key: dict(config.get(vendor.key) or {}) for vendor in VENDORS}


def derive(project: t.Mapping[str, t.Any], year: int = YEAR) -> list[Schedule]:
    """One schedule per vendor job, one per shard job (at its vendor's time), then the
    all-in-one job's, after the last vendor."""
    settings = vendor_settings(project)
    days = year_days(year)
    schedules = []
    vendor_interval = {}
    latest_per_day: list[dt.datetime] = [dt.datetime.min.replace(tzinfo=dt.UTC)] * len(days)
    for vendor in VENDORS:
        done = [completed_at(vendor, settings[vendor.key], day) for day in days]
        latest_per_day = [max(a, b) for a, b in zip(latest_per_day, done, strict=True)]
        interval = cron_after(latest_minute(minute_of_day(moment) for moment in done))
        vendor_interval[vendor.key] = interval
        schedules.append(Schedule(f"{vendor.key}-daily", vendor.key, interval))
    for job, vendor_key in shard_jobs(project).items():
        schedules.append(Schedule(f"{job}-daily", job, vendor_interval[vendor_key]))
    interval = cron_after(latest_minute(minute_of_day(moment) for moment in latest_per_day))
    schedules.append(Schedule(f"{ALL_IN_ONE_JOB}-daily", ALL_IN_ONE_JOB, interval))
    return schedules


def main() -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args()
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=2, offset=0)  # as scripts/sync_meltano_settings.py
    text = MELTANO_YML.read_text()
    project = yaml.load(text)
    project["schedules"] = [
        CommentedMap(name=s.name, interval=s.interval, job=s.job) for s in derive(project)
    ]
    out = io.StringIO()
    yaml.dump(project, out)
    if args.check:
        if out.getvalue() != text:
            sys.exit("meltano.yml schedules are out of date: run python -m orchestrate.schedules")
        return
    MELTANO_YML.write_text(out.getvalue())


if __name__ == "__main__":
    main()
