"""The tap: its config contract, its streams, and the CLI entry point."""

from __future__ import annotations

import copy
import logging
import sys
import threading
import typing as t
from functools import cached_property

from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities

from tap_perfreports import clock, redact
from tap_perfreports.errors import RunInterrupted, TapPerfReportsError
from tap_perfreports.inputs import check_cli_files, normalize_state
from tap_perfreports.run_state import RunState
from tap_perfreports.sdk_private import BufferedSingerWriter, TapHooks
from tap_perfreports.settings import (
    check_shards_offered,
    check_vendor_objects,
    parse_typed_strings,
    resolve_vendors,
)
from tap_perfreports.streams import RECONCILE_FAIL, RECONCILE_WARN
from tap_perfreports.vendors import VENDORS
from tap_perfreports.verdicts import ReconciliationStream

if t.TYPE_CHECKING:
    from tap_perfreports.sandbox.server import SandboxServer
    from tap_perfreports.vendor import VendorConfig

logger = logging.getLogger("tap-perfreports")


def sandbox_tap_settings(vendor: str) -> dict[str, t.Any]:
    """A vendor's sandbox credentials: only the sandbox switch reaches into the sandbox."""
    from tap_perfreports.sandbox import tap_settings

    return tap_settings(vendor)


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
        th.Property(
            "reconcile",
            th.StringType,
            default=RECONCILE_WARN,
            allowed_values=[RECONCILE_WARN, RECONCILE_FAIL],
            description="When a report's rows do not add up to the totals its vendor "
            "states: warn (log one line per metric and go on) or fail (stop before the "
            "window's STATE, so the next run extracts it again). Verdicts land in the "
            "stream perfreports_reconciliation either way.",
        ),
        *(vendor.schema_property() for vendor in VENDORS),
    ).to_dict()

    _sandbox: SandboxServer | None = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        #: What this run's streams share (STATE cadence, deferred failures).
        self.run_state = RunState()
        super().__init__(*args, **kwargs)

    def prepare_config(self, config: dict[str, t.Any]) -> dict[str, t.Any]:
        """Before the config is validated: every credential is registered for redaction
        (before anything can echo it), and typed settings given as text are read."""
        check_vendor_objects(config, VENDORS)
        check_shards_offered(config, VENDORS)
        for vendor in VENDORS:
            settings = config.get(vendor.key)
            if not isinstance(settings, dict):
                continue
            for secret in vendor.secrets:
                redact.redact.add(settings.get(secret))
            if settings.get("username") and settings.get("password"):
                redact.redact.add_basic_auth(str(settings["username"]), str(settings["password"]))
        return parse_typed_strings(config, self.full_config_jsonschema())

    def load_state(self, state: dict[str, t.Any]) -> None:
        """The state is checked (one line naming stream and partition if it is wrong) and
        Meltano's `{"singer_state": ...}` form accepted, before any request."""
        super().load_state(normalize_state(state))

    @cached_property
    def vendor_configs(self) -> list[VendorConfig]:
        """Each configured vendor's settings, resolved and checked before any request."""
        config = self.config
        return resolve_vendors(
            config,
            VENDORS,
            schema=self.full_config_jsonschema(),
            now=clock.now(sandbox=bool(config.get("sandbox"))),
            sandbox_url=lambda vendor: self.sandbox_server().url(vendor),
            sandbox_settings=sandbox_tap_settings,
            run=self.run_state,
        )

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
        if any(by_key[vendor.key].states_totals for vendor in self.vendor_configs):
            verdicts = ReconciliationStream(self, self.run_state)
            self.run_state.land_verdicts = verdicts.land
            streams.append(verdicts)
        if self.input_catalog is not None:
            unknown = set(self.input_catalog) - {stream.name for stream in streams}
            if unknown:
                self.logger.warning(
                    "The catalog names stream(s) %s, which this config does not extract (a "
                    "vendor left out of the config, or a misspelt name): ignored.",
                    ", ".join(sorted(unknown)),
                )
        return streams


def main() -> None:
    """Console script: the SDK CLI, with expected failures and interrupts as one clear
    line and a non-zero exit. Whatever the end, every message written so far is flushed."""
    redact.install()
    try:
        check_cli_files(sys.argv[1:])
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
    failure logged next stays the run's last log line. Records are dropped where they
    are written, under each handler's lock: a worker's record that was already past the
    handler's filters when the failure came cannot be written after it."""
    this = threading.get_ident()
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for each in loggers:
        for handler in getattr(each, "handlers", ()):
            handler.emit = _only_from(this, handler.emit)  # type: ignore[method-assign]


def _only_from(thread: int, emit: t.Callable[[logging.LogRecord], None]) -> t.Callable:
    def emit_if_from_thread(record: logging.LogRecord) -> None:
        if record.thread == thread:
            emit(record)

    return emit_if_from_thread


redact.install()
