"""One small extraction per vendor, every stream of it, for tests that cover all five.

Dates are relative to today (the sandbox's clock is the real one here), recent enough for
Mintegral's half-year history and CityGrid's presets, and complete for every vendor.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing as t
from dataclasses import dataclass, field
from decimal import Decimal

from tap_perfreports.sandbox import plumvoice as plumvoice_sandbox

TODAY = dt.datetime.now(dt.UTC).date()


def days_ago(days: int) -> str:
    return (TODAY - dt.timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class VendorCase:
    """A vendor's settings for a first run over [start, end] and an incremental run that
    ends `later` (its lookback re-pulls the last `lookback_days` days of the first)."""

    vendor: str
    settings: dict[str, t.Any] = field(default_factory=dict)
    start: str = days_ago(12)
    end: str = days_ago(6)
    later: str = days_ago(3)
    lookback_days: int = 2

    def config(self, server: t.Any, *, end: str | None = None, **top: t.Any) -> dict[str, t.Any]:
        """A config extracting this vendor from `server` (a SandboxServer)."""
        return {
            "sandbox": True,
            "start_date": self.start,
            "end_date": end or self.end,
            self.vendor: {
                "api_url": server.url(self.vendor),
                "lookback_days": self.lookback_days,
                **self.settings,
            },
            **top,
        }


CASES = {
    case.vendor: case
    for case in (
        VendorCase("infinity", {"igrps": [1001]}),
        VendorCase("plumvoice", {"phones": ["ALL", plumvoice_sandbox.phones()[0]]}),
        VendorCase("adobe_target", {"campaign_ids": [7], "metric_types": ["visit", "impression"]}),
        VendorCase("citygrid", {}),
        VendorCase("mintegral", {}),
    )
}


def all_vendors(server: t.Any) -> dict[str, t.Any]:
    """One config extracting every case's vendor (they share their dates)."""
    config: dict[str, t.Any] = {}
    for case in CASES.values():
        config.update(case.config(server))
    return config


#: The streams each case extracts (every stream of the vendor, in the tap's order).
STREAMS = {
    "infinity": ["infinity_triggers", "infinity_channel_metrics"],
    "plumvoice": ["plumvoice_performance"],
    "adobe_target": ["adobe_target_steps", "adobe_target_recipes", "adobe_target_engagement"],
    "citygrid": ["citygrid_overall", "citygrid_ads", "citygrid_places_that_pay"],
    "mintegral": ["mintegral_performance"],
}

#: The stream of reconciliation verdicts, and the vendors whose runs land some (those
#: whose reports state totals: README, Reconciliation).
VERDICTS = "perfreports_reconciliation"
RECONCILED = {"citygrid", "mintegral"}


def written_streams(*vendors: str) -> set[str]:
    """The streams a run of these vendors' cases writes records to: every stream of each,
    and the verdicts when one of them is reconciled."""
    streams = {stream for vendor in vendors for stream in STREAMS[vendor]}
    return streams | ({VERDICTS} if RECONCILED & set(vendors) else set())


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def canonical(value: t.Any) -> t.Any:
    """A landed or emitted value in one comparable form: date-times as UTC instants in
    ISO form, numbers as Decimals (equal whatever their notation), the rest as is."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value)).normalize() + 0
    if isinstance(value, str) and _DATE_TIME.match(value):
        return canonical(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return value


def canonical_record(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {key: canonical(value) for key, value in record.items()}


def parse_messages(stdout: str) -> list[dict]:
    """Singer messages with numbers read exactly."""
    return [json.loads(line, parse_float=Decimal) for line in stdout.splitlines() if line]
