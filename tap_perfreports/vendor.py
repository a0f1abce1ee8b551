"""What a vendor module declares, and the resolved settings its streams receive.

Each module in `tap_perfreports/vendors/` exposes one `Vendor`. The tap assembles its
config schema from them, and a vendor whose config object is absent adds no streams.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

from tap_perfreports.run_state import RunState
from tap_perfreports.shards import Shard

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap

#: Above this, fetching ahead only holds more bodies; it no longer hides latency.
MAX_CONCURRENT_REQUESTS = 32
#: A year of late data is already more than any of these vendors restates.
MAX_LOOKBACK_DAYS = 366


@dataclass(frozen=True)
class VendorConfig:
    """One vendor's settings after defaults, sandbox and date resolution."""

    key: str
    settings: t.Mapping[str, t.Any]
    api_url: str
    lookback_days: int
    start_date: dt.date
    end_date: dt.date
    #: The vendor's latest complete day as the run starts: no bookmark may pass it.
    latest_day: dt.date
    sandbox: bool
    #: Requests sent at once when fetching ahead (1: one at a time).
    max_concurrent_requests: int = 1
    #: The share of the vendor's partitions this run extracts (None: every partition).
    shard: Shard | None = None
    #: What the streams of this run share (STATE cadence, deferred failures).
    run: RunState = field(default_factory=RunState, compare=False)

    def __getitem__(self, name: str) -> t.Any:
        return self.settings[name]

    def get(self, name: str, default: t.Any = None) -> t.Any:
        value = self.settings.get(name)
        return default if value is None else value


@dataclass(frozen=True)
class Vendor:
    """A vendor API: its settings and how to build its streams."""

    key: str
    title: str
    api_url: str
    lookback_days: int
    #: The vendor's own settings (api_url and lookback_days are added for every vendor).
    properties: tuple[th.Property, ...]
    #: Settings that hold credentials: registered for redaction, marked sensitive.
    secrets: tuple[str, ...]
    #: Settings the vendor's login needs (sandbox mode fills them in), and what they are.
    login: tuple[str, ...]
    login_hint: str
    build_streams: t.Callable[[Tap, VendorConfig], list[Stream]]
    #: Raises ConfigError for rules JSON schema cannot say (combinations, ranges).
    validate: t.Callable[[t.Mapping[str, t.Any]], None] = field(default=lambda settings: None)
    #: End date when the user gives none: the vendor's latest complete reporting day, as
    #: of an instant, in the time zone the vendor's settings report in.
    default_end_date: t.Callable[[dt.datetime, t.Mapping[str, t.Any]], dt.date] | None = None
    #: The last day an explicit end_date may reach, as of an instant; None: the latest
    #: complete day. A vendor whose streams emit days that are not final yet and keep the
    #: bookmark at the last final one (Mintegral's is_complete) may reach its current day.
    last_day_served: t.Callable[[dt.datetime, t.Mapping[str, t.Any]], dt.date] | None = None
    #: The oldest day the API still serves, as of an instant (None: no limit). A range
    #: wholly older fails at config validation; a range partly older is clipped, with a
    #: warning, by the vendor's streams.
    earliest_day: t.Callable[[dt.datetime, t.Mapping[str, t.Any]], dt.date] | None = None
    #: Default of the `max_concurrent_requests` setting; None: the vendor does not offer
    #: it (its requests are sequential by nature, or it has its own concurrency setting).
    max_concurrent_requests: int | None = None
    #: What one of the vendor's partitions is (e.g. "phone number"), for the `shard`
    #: setting's description; None: the vendor has no partitions, so no `shard` setting.
    partitioned_by: str | None = None
    #: Whether its reports state totals the tap reconciles its rows with: a run with such
    #: a vendor has the stream perfreports_reconciliation (`verdicts.py`).
    states_totals: bool = False

    def schema_property(self) -> th.Property:
        return th.Property(
            self.key,
            th.ObjectType(
                th.Property(
                    "api_url",
                    th.URIType,
                    default=self.api_url,
                    description=f"Base URL of the {self.title}; change it only for a proxy.",
                ),
                th.Property(
                    "lookback_days",
                    th.IntegerType(minimum=0, maximum=MAX_LOOKBACK_DAYS),
                    default=self.lookback_days,
                    description="Days before the bookmark to extract again, for late or "
                    "restated data.",
                ),
                *self._concurrency_property(),
                *self._shard_property(),
                *self.properties,
                additional_properties=False,
            ),
            description=f"{self.title}. Leave out to extract nothing from this vendor.",
        )

    def _concurrency_property(self) -> tuple[th.Property, ...]:
        if self.max_concurrent_requests is None:
            return ()
        return (
            th.Property(
                "max_concurrent_requests",
                th.IntegerType(minimum=1, maximum=MAX_CONCURRENT_REQUESTS),
                default=self.max_concurrent_requests,
                description="Requests sent at once: the next windows are fetched while "
                "the current one is parsed, and records still arrive in order. 1 sends "
                "one request at a time.",
            ),
        )

    def _shard_property(self) -> tuple[th.Property, ...]:
        if self.partitioned_by is None:
            return ()
        return (
            th.Property(
                "shard",
                th.StringType,
                description=f"Extract only shard K of N, written K/N (e.g. 1/2): the "
                f"partitions (one per {self.partitioned_by}) whose key hashes to shard K, "
                "so that N extractors, each with its own state, extract every partition "
                "exactly once. Default: every partition.",
            ),
        )
