"""The tap: its config contract, its streams, and the CLI entry point."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import logging
import sys
import threading
import typing as t
from functools import cached_property

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities

from tap_perfreports import clock, redact
from tap_perfreports.errors import ConfigError, RunInterrupted, TapPerfReportsError
from tap_perfreports.run_state import RunState
from tap_perfreports.sdk_private import BufferedSingerWriter, TapHooks
from tap_perfreports.vendor import Vendor, VendorConfig
from tap_perfreports.vendors import VENDORS
from tap_perfreports.windows import latest_complete_day

if t.TYPE_CHECKING:
    from tap_perfreports.sandbox.server import SandboxServer

logger = logging.getLogger("tap-perfreports")

#: How far back the sandbox extracts when no start_date is given.
SANDBOX_DEFAULT_DAYS = 30


class TapPerfReports(TapHooks):
    """Vendor performance reports as Singer streams."""

    name = "tap-perfreports"
    message_writer_class = BufferedSingerWriter
    #: What works and is tested. Not ACTIVATE_VERSION: every stream is incremental and
    #: upserts by its full grain, and the SDK sends ACTIVATE_VERSION for full-table
    #: streams only, so `emit_activate_version_messages` could never do anything.
    capabilities: t.ClassVar[list] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.BATCH,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "start_date",
            th.DateType,
            description="First reporting day to extract (required unless sandbox is on).",
        ),
        th.Property(
            "end_date",
            th.DateType,
            description="Last reporting day to extract, inclusive. Default: each vendor's "
            "latest complete day.",
        ),
        th.Property(
            "sandbox",
            th.BooleanType,
            default=False,
            description="Extract from the embedded sandbox that emulates all five APIs, "
            "with sandbox credentials: no vendor account needed.",
        ),
        *(vendor.schema_property() for vendor in VENDORS),
    ).to_dict()

    _sandbox: SandboxServer | None = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        #: What this run's streams share (STATE cadence, deferred failures).
        self.run_state = RunState()
        super().__init__(*args, **kwargs)

    def register_secrets(self, config: t.Mapping[str, t.Any]) -> None:
        """Every credential is registered for redaction before anything can echo it."""
        for vendor in VENDORS:
            settings = config.get(vendor.key)
            if not isinstance(settings, dict):
                continue
            for secret in vendor.secrets:
                redact.redact.add(settings.get(secret))
            if settings.get("username") and settings.get("password"):
                redact.redact.add_basic_auth(str(settings["username"]), str(settings["password"]))

    @cached_property
    def vendor_configs(self) -> list[VendorConfig]:
        """Each configured vendor's settings, resolved and checked before any request."""
        config = self.config
        _reject_unknown_settings(config, self.full_config_jsonschema())
        sandbox = bool(config.get("sandbox"))
        now = clock.now(sandbox=sandbox)
        end = _date_setting(config, "end_date")
        start = _date_setting(config, "start_date")
        if start is None and not sandbox:
            raise ConfigError("start_date", "required (a date such as 2024-01-31)")
        if start is not None and start > now.date():
            raise ConfigError("start_date", f"{start} is in the future")
        if start is not None and end is not None and end < start:
            raise ConfigError("end_date", f"{end} is before start_date {start}")

        resolved = []
        for vendor in VENDORS:
            settings = config.get(vendor.key)
            if settings is None:
                continue
            settings = dict(settings)
            # The SDK fills in the documented default, so only another URL is a choice.
            explicit_url = settings.get("api_url")
            if explicit_url == vendor.api_url:
                explicit_url = None
            if sandbox:
                settings = {**vendor.sandbox_settings, **settings}
            _validate_vendor(vendor, settings)
            vendor_end = end or (
                vendor.default_end_date(now, settings)
                if vendor.default_end_date
                else latest_complete_day(now)
            )
            vendor_start = start or vendor_end - dt.timedelta(days=SANDBOX_DEFAULT_DAYS - 1)
            earliest = vendor.earliest_day(now, settings) if vendor.earliest_day else None
            if earliest is not None and vendor_end < earliest:
                raise ConfigError(
                    "end_date" if end else "start_date",
                    f"the {vendor.title} serves days from {earliest} only (its history "
                    f"limit), and {vendor_start}..{vendor_end} is wholly older",
                )
            if sandbox and not explicit_url:
                api_url = self.sandbox_server().base_url + vendor.sandbox_path()
            else:
                api_url = str(explicit_url or vendor.api_url)
            lookback = settings.get("lookback_days")
            concurrency = settings.get("max_concurrent_requests")
            if concurrency is None:
                concurrency = vendor.max_concurrent_requests or 1
            resolved.append(
                VendorConfig(
                    key=vendor.key,
                    settings=settings,
                    api_url=api_url.rstrip("/"),
                    lookback_days=vendor.lookback_days if lookback is None else int(lookback),
                    start_date=vendor_start,
                    end_date=vendor_end,
                    sandbox=sandbox,
                    max_concurrent_requests=int(concurrency),
                    run=self.run_state,
                )
            )
        return resolved

    @classmethod
    def full_config_jsonschema(cls) -> dict:
        """The settings the SDK validates: ours and those its capabilities add."""
        schema = copy.deepcopy(cls.config_jsonschema)
        cls.append_builtin_config(schema)
        return schema

    def sandbox_server(self) -> SandboxServer:
        """The embedded sandbox, started on a free loopback port on first use."""
        if TapPerfReports._sandbox is None:
            from tap_perfreports.sandbox.server import start_sandbox

            TapPerfReports._sandbox = start_sandbox()
            self.logger.info("Sandbox serving on %s", TapPerfReports._sandbox.base_url)
        return TapPerfReports._sandbox

    def discover_streams(self) -> list[Stream]:
        by_key = {vendor.key: vendor for vendor in VENDORS}
        streams: list[Stream] = []
        for vendor_config in self.vendor_configs:
            streams.extend(by_key[vendor_config.key].build_streams(self, vendor_config))
        return streams


def _reject_unknown_settings(config: t.Mapping[str, t.Any], schema: dict) -> None:
    """A misspelt vendor key would silently extract nothing: name it instead."""
    known = set(schema.get("properties", {}))
    for name in config:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(name, f"unknown setting{hint}")


def _validate_vendor(vendor: Vendor, settings: t.Mapping[str, t.Any]) -> None:
    """The vendor's own rules, then: an empty list is a mistake, never "all" or "none"."""
    vendor.validate(settings)
    for name, value in settings.items():
        if isinstance(value, list) and not value:
            raise ConfigError(
                f"{vendor.key}.{name}",
                "is empty: leave it out for the default, or list at least one",
            )


def _date_setting(config: t.Mapping[str, t.Any], name: str) -> dt.date | None:
    value = config.get(name)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a date (YYYY-MM-DD)") from None


def main() -> None:
    """Console script: the SDK CLI, with expected failures and interrupts as one clear
    line and a non-zero exit. Whatever the end, every message written so far is flushed."""
    redact.install()
    try:
        TapPerfReports.cli()
    except RunInterrupted as exc:
        _end_run(
            128 + exc.signum,
            f"Interrupted by {exc.signal_name}: the run did not finish. What it extracted "
            "so far was written with its STATE; the next run resumes from the last "
            "completed window.",
        )
    except KeyboardInterrupt:  # before the tap installed its signal handlers
        _end_run(130, "Interrupted by SIGINT before extraction began: nothing was extracted.")
    except TapPerfReportsError as exc:
        _end_run(1, str(exc))
    finally:
        BufferedSingerWriter.flush_all()


def _end_run(code: int, message: str) -> t.NoReturn:
    BufferedSingerWriter.flush_all()
    _quiet_other_threads()
    logger.error("%s", message)
    sys.exit(code)


def _quiet_other_threads() -> None:
    """Mute the fetch-ahead threads, still retrying requests nobody will take, so that the
    failure logged next stays the run's last log line."""
    this = threading.get_ident()
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for each in loggers:
        for handler in getattr(each, "handlers", ()):
            handler.addFilter(lambda record: record.thread == this)


redact.install()
