"""The base of every vendor stream: date windows per partition, checkpointed per window.

The SDK moves a bookmark to the largest replication-key value it has seen, record by
record. A report does not arrive in key order and may hold days that are not final, so
here the bookmark moves only when a window has been emitted completely: the STATE
message that follows a window's records says "everything up to this day is done".
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
import typing as t
from collections import Counter
from functools import cached_property

from tap_perfreports.errors import ConfigError, ReconciliationFailed, TapPerfReportsError
from tap_perfreports.inputs import InputError
from tap_perfreports.progress import PARTITIONS_LOGGED, Progress
from tap_perfreports.reconcile import MISMATCH, PASS, UNSTATED, Rule, Verdict, reconcile
from tap_perfreports.sdk_private import StreamHooks
from tap_perfreports.verdicts import STREAM_NAME as VERDICT_STREAM
from tap_perfreports.verdicts import partition_text
from tap_perfreports.windows import Window, parse_bookmark, plan_windows, resume_from

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Tap
    from singer_sdk.singerlib import Catalog

    from tap_perfreports.fetch_ahead import Request
    from tap_perfreports.http import HttpClient
    from tap_perfreports.vendor import VendorConfig


#: A STATE message carries every partition's bookmark. With thousands of partitions (one
#: per CityGrid publisher code and view type, say), one per window would cost more than
#: the records and grow with the square of the partitions. So past SMALL_STATE bookmarks,
#: a window's STATE waits until RECORDS_PER_BOOKMARK records per bookmark were written
#: since the last one, or STATE_MAX_WAIT_SECONDS passed. The stream's final STATE is
#: always written, and so is a held-back one when the stream fails.
SMALL_STATE = 64
#: The `reconcile` setting's values.
RECONCILE_WARN = "warn"
RECONCILE_FAIL = "fail"
RECORDS_PER_BOOKMARK = 4
STATE_MAX_WAIT_SECONDS = 60.0


class _SdkNoise(logging.Filter):
    """Two SDK lines that mislead: "Starting incremental sync ... with bookmark value"
    names no partition and shows start_date as a bookmark on a fresh run (our own line per
    partition says what is extracted), and "An unhandled error occurred while syncing"
    precedes every expected failure, which is handled: its one line follows."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Starting incremental sync of"):
            return False
        if message.startswith("An unhandled error occurred while syncing"):
            return not isinstance(sys.exc_info()[1], TapPerfReportsError)
        return True


class ReportStream(StreamHooks):
    """A vendor report extracted in windows of at most `max_window_days` days.

    Subclasses set `name`, `schema`, `primary_keys`, `replication_key` (a date or
    date-time column) and implement `extract_window`; a partitioned stream implements
    `account_partitions`. Partition context keys must be record columns: the SDK copies
    every context key into each record.
    """

    is_sorted = False
    max_window_days: int = 31

    def __init__(
        self,
        tap: Tap,
        vendor: VendorConfig,
        client: HttpClient,
        *,
        name: str | None = None,
        schema: dict | None = None,
        primary_keys: list[str] | None = None,
        replication_key: str | None = None,
    ) -> None:
        self.vendor = vendor
        #: What the streams of this run share: the STATE cadence, deferred failures.
        self.run = vendor.run
        #: The tap, through its public surface: its STATE writer and its streams.
        self.sdk_tap = tap
        #: The vendor's HTTP client, shared by its streams.
        self.client = client
        self._announced = False
        #: This shard's partitions, once picked (see `partitions`).
        self._shard_partitions: list[dict] | None = None
        #: Counts for the progress lines and the summary (`progress.py`).
        self.progress = Progress()
        #: The client's requests before this stream's first (its summary counts the rest).
        self.requests_before: int | None = None
        #: Reconciliation: reports checked, verdicts landed, and each verdict's count.
        self.reconciled = Counter[str]()
        super().__init__(tap, schema=schema, name=name)
        logging.getLogger(f"{tap.name}.{self.name}").addFilter(_SdkNoise())
        # Streams built from config pass these; the SDK's __init__ would reset them.
        if primary_keys is not None:
            self.primary_keys = primary_keys
        if replication_key is not None:
            self.replication_key = replication_key

    def apply_catalog(self, catalog: Catalog) -> None:
        """A catalog that selects this stream with a schema lacking its key columns (an
        empty schema, an old catalog) is refused in one line, before any request. (Meltano
        empties the schemas of the streams a job deselects: those are fine.)"""
        entry = catalog.get_stream(self.name)
        if entry is not None and entry.metadata.resolve_selection().get((), True):
            columns = set((entry.schema.to_dict() or {}).get("properties") or {})
            needed = dict.fromkeys([*self.primary_keys, self.replication_key or ""])
            missing = [column for column in needed if column and column not in columns]
            if missing:
                raise InputError(
                    f"The catalog's schema for stream {self.name} lacks {', '.join(missing)} "
                    "(its key columns): write a current catalog with --discover (or "
                    "`meltano select`)."
                )
        super().apply_catalog(catalog)

    # What a vendor module provides

    def extract_window(self, context: dict, window: Window) -> Iterable[dict]:
        """Yield the typed records of one window of one partition."""
        raise NotImplementedError

    def account_partitions(self) -> list[dict] | None:
        """Every partition of the account, before a `shard` setting picks its share
        (None: the stream is not partitioned)."""
        return super().partitions

    # Partitions and shards

    @property
    def partitions(self) -> list[dict] | None:
        """The partitions this run extracts: the account's, or with the vendor's `shard`
        setting that shard's share (picked once: the SDK asks for them repeatedly)."""
        shard = self.vendor.shard
        if shard is None:
            return self.account_partitions()
        if self._shard_partitions is None:
            self._shard_partitions = self._pick_shard()
        return self._shard_partitions

    def _pick_shard(self) -> list[dict]:
        """This shard's partitions, picked when the SDK first asks (as the stream's sync
        begins, before its first request). None is a mistake to name, not a run that
        succeeds with nothing: the job would look healthy while extracting no data."""
        shard = self.vendor.shard
        assert shard is not None
        every = self.account_partitions() or []
        picked = shard.pick(every)
        if not picked:
            raise ConfigError(
                f"{self.vendor.key}.shard",
                f"shard {shard} holds none of the {len(every)} partition(s) of stream "
                f"{self.name}: a partition's shard is fixed by a hash of its key, so with "
                f"few partitions some of {shard.count} shards get none. Use fewer shards, "
                "or list more partitions.",
            )
        self.logger.info(
            "stream %s: shard %s extracts %d of the %d partitions",
            self.name,
            shard,
            len(picked),
            len(every),
        )
        return picked

    # Dates

    @property
    def start_date(self) -> dt.date:
        return self.vendor.start_date

    @property
    def end_date(self) -> dt.date:
        return self.vendor.end_date

    def bookmark(self, context: t.Mapping[str, t.Any] | None) -> dt.date | None:
        """The last day this partition extracted completely, from the incoming state.

        Read from the state itself: the SDK's starting value falls back to start_date,
        which would mark a day done that was never extracted. Read without creating the
        partition's state (planning ahead must not change the STATE a run emits).

        A bookmark after the vendor's latest complete day (an `end_date` in the future
        once moved it there, or a hand-edited state) would skip every day until then:
        it is brought back to that day, with a warning, and the next STATE says so.
        """
        state: t.MutableMapping[str, t.Any] = self.stream_state
        if context:
            partitions = state.get("partitions") or []
            state = next((p for p in partitions if p.get("context") == dict(context)), {})
        day = parse_bookmark(state.get("replication_key_value"))
        latest = self.vendor.latest_day
        if day is None or day <= latest:
            return day
        if state.get("replication_key_value") != latest.isoformat():
            self.logger.warning(
                "%s: the state's bookmark %s is after the latest complete day, %s; "
                "resuming from %s. To extract from start_date again instead, clear the "
                "state: `meltano state clear <state id>` or `meltano run --full-refresh`.",
                self.where(context),
                day,
                latest,
                latest,
            )
            state["replication_key_value"] = latest.isoformat()
        return latest

    def plan(self, context: dict) -> list[Window]:
        """The windows this run extracts for one partition, oldest first."""
        start = resume_from(self.bookmark(context), self.start_date, self.vendor.lookback_days)
        return plan_windows(start, self.end_date, self.max_window_days)

    def where(self, context: t.Mapping[str, t.Any] | None, window: Window | None = None) -> str:
        """Names stream, partition and window in log lines and errors."""
        parts = [f"stream {self.name}"]
        if context:
            parts.append(", ".join(f"{key}={value}" for key, value in context.items()))
        if window is not None:
            parts.append(f"window {window}")
        return " | ".join(parts)

    # Sync

    def planned_windows(self, context: dict, how: str = "") -> list[Window]:
        """`plan`, and say in the log what this partition's run will extract (`how`)."""
        windows = self.plan(context)
        first, last = (windows[0].start, windows[-1].end) if windows else (None, None)
        self.partition_planned(context, first, last, len(windows), f"window(s){how}")
        return windows

    def partition_planned(
        self, context: dict, first: dt.date | None, last: dt.date | None, count: int, what: str
    ) -> None:
        """A partition's plan: `count` requests (`what`) for `first`..`last`. Logged at
        INFO while the stream has few partitions; with many (CityGrid's codes, Plum
        Voice's phones) at DEBUG, after one line that says so."""
        self.count_requests_from_now()
        level = logging.INFO
        partitions = len(self.partitions or [{}])
        if partitions > PARTITIONS_LOGGED:
            level = logging.DEBUG
            if not self.progress.partitions_started:
                self.logger.info(
                    "stream %s: %d partitions; each one's plan is logged at DEBUG, "
                    "progress every %.0f s",
                    self.name,
                    partitions,
                    self.progress.every,
                )
        self.progress.start_partition(count, time.monotonic())
        if first is None or last is None:
            self.logger.log(level, "%s: up to date, nothing to extract", self.where(context))
            return
        self.logger.log(
            level, "%s: extracting %s..%s in %d %s", self.where(context), first, last, count, what
        )

    def count_requests_from_now(self) -> None:
        """The stream's summary counts the vendor client's requests from here on."""
        if self.requests_before is None:
            self.requests_before = self.client.requests_sent

    def requests_ahead(self, context: dict) -> Iterable[Request]:
        """The requests one partition's run will send, in order, as far as they are known
        before the first answer: the vendor's hook for fetching ahead (see `announce`)."""
        return ()

    def announce(self) -> None:
        """Once per run, before its first partition: announce every partition's requests so
        that the client sends some ahead. Partitions are synced in `partitions` order."""
        if self._announced:
            return
        self._announced = True
        self.count_requests_from_now()
        self.client.announce(
            request
            for context in self.partitions or [{}]
            for request in self.requests_ahead(dict(context))
        )

    def get_records(self, context: t.Mapping[str, t.Any] | None) -> Iterator[dict]:
        self.announce()
        context = dict(context or {})
        for window in self.planned_windows(context):
            yield from self.extract_window(context, window)
            self.checkpoint(context, window.end)

    # Reconciliation

    @cached_property
    def reconcile_mode(self) -> str:
        """`warn` (log each mismatch) or `fail` (also stop before the window's STATE)."""
        return str(self.config.get("reconcile") or RECONCILE_WARN)

    def reconcile_window(
        self,
        context: t.Mapping[str, t.Any] | None,
        covered: Window,
        stated: t.Mapping[str, t.Any],
        rows: t.Sequence[t.Mapping[str, t.Any]],
        rules: t.Iterable[Rule],
    ) -> list[Verdict]:
        """Check `rows` against the totals the vendor `stated` for the days `covered`,
        land the verdicts, and log each mismatch in one line. Called before the window's
        records are written: with `reconcile: fail`, a mismatch raises, so neither the
        window's records nor its STATE are written and the next run extracts it again
        (the verdicts are landed first, to say why)."""
        verdicts = reconcile(stated, rows, rules)
        counts = self.reconciled
        counts["reports"] += 1
        for verdict in verdicts:
            counts[verdict.verdict] += 1
        if self.run.land_verdicts is not None and verdicts:
            where = {
                "vendor": self.vendor.key,
                "stream": self.name,
                "partition_key": partition_text(context),
                "window_start": covered.start.isoformat(),
                "window_end": covered.end.isoformat(),
            }
            counts["landed"] += self.run.land_verdicts(
                [
                    {
                        **where,
                        "metric": verdict.metric,
                        "rule": verdict.rule,
                        "stated": verdict.stated,
                        "summed": verdict.summed,
                        "difference": verdict.difference,
                        "tolerance": verdict.tolerance,
                        "verdict": verdict.verdict,
                    }
                    for verdict in verdicts
                ]
            )
        mismatches = [verdict for verdict in verdicts if verdict.verdict == MISMATCH]
        if not mismatches:
            return verdicts
        lines = [
            f"{self.where(context, covered)}: the rows do not add up to the vendor's total "
            f"{verdict.metric} (stated {verdict.stated:g}, rows give {verdict.summed:g}, "
            f"tolerance {verdict.tolerance:g})"
            for verdict in mismatches
        ]
        for line in lines:
            self.logger.warning("%s", line)
        if lines and self.reconcile_mode == RECONCILE_FAIL:
            raise ReconciliationFailed(
                f"{lines[0]}{f' (and {len(lines) - 1} more)' if len(lines) > 1 else ''}; "
                "reconcile is fail: the window's rows were not written and its STATE not "
                "moved, so the next run extracts it again."
            )
        return verdicts

    # State

    @cached_property
    def batch_mode(self) -> bool:
        """Whether records go out in BATCH messages (`batch_config`) instead of RECORDs."""
        return self.get_batch_config(self.config) is not None

    def checkpoint(self, context: t.Mapping[str, t.Any] | None, day: dt.date) -> None:
        """Record that every day up to `day` is extracted, and emit STATE (`write_state`).

        Called after the window's last record has been written, so a target that
        commits state only after the records before it never skips a row.
        """
        state = self.get_context_state(context)
        previous = parse_bookmark(state.get("replication_key_value"))
        if previous is not None and previous >= day:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = day.isoformat()
        self.mark_state_changed()
        line = self.progress.window_done(time.monotonic())
        if line is not None:
            self.logger.info("%s: %s", self.where(context), line)
        bookmarks = self.bookmark_count()
        if (
            bookmarks <= SMALL_STATE
            or self.run.records_since_state >= RECORDS_PER_BOOKMARK * bookmarks
            or time.monotonic() - self.run.state_written_at >= STATE_MAX_WAIT_SECONDS
        ):
            self.write_state()

    def write_state(self) -> None:
        """Emit the run's STATE now, after every record before it (an unchanged STATE
        is not repeated, but those records are still written).

        With `batch_config`, records travel in BATCH messages that the SDK writes when a
        batch file is full, and it writes STATE right after each: a STATE written here
        could cover records still waiting for their file, so none is.
        """
        if self.batch_mode:
            return
        self.run.state_written()
        self.sdk_tap.state_writer.write_state(self.tap_state)

    def bookmark_count(self) -> int:
        """How many bookmarks the tap's STATE holds (partitions, or one per stream)."""
        streams = self.tap_state.get("bookmarks", {}).values()
        # An empty entry holds no bookmark: perfreports_reconciliation's, say.
        return sum(len(stream.get("partitions") or ()) or 1 for stream in streams if stream)

    def on_record_written(self) -> None:
        self.run.records_since_state += 1
        self.progress.rows += 1

    def on_sync_stopped(self, *, writing_messages: bool) -> None:
        """A failure or an interrupt: the windows finished before it are written to
        STATE now (`checkpoint` may have held their STATE back)."""
        if writing_messages:
            self.write_state()

    def after_sync(self) -> None:
        """Called once this stream has synced and written its final state (vendor hook)."""

    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        """The SDK's last call on a stream (`Tap.sync_all`): its final STATE, which also
        writes every record still buffered. After the tap's last stream, failures
        deferred until every stream had its turn end the run."""
        super().finalize_state_progress_markers(state)
        self.write_state()
        if self.progress.partitions_started:
            requests = self.client.requests_sent - (self.requests_before or 0)
            summary = self.progress.summary(requests, time.monotonic())
            self.logger.info("stream %s: done, %s", self.name, summary)
        if self.reconciled["reports"]:
            self.logger.info(
                "stream %s: reconciled %d report(s) with the vendor's totals: %d verdict(s) "
                "landed in %s (%d pass, %d mismatch, %d unstated)",
                self.name,
                self.reconciled["reports"],
                self.reconciled["landed"],
                VERDICT_STREAM,
                self.reconciled[PASS],
                self.reconciled[MISMATCH],
                self.reconciled[UNSTATED],
            )
        self.after_sync()
        selected = [s for s in self.sdk_tap.streams.values() if s.selected]
        if selected and selected[-1] is self:
            self.run.finish()
