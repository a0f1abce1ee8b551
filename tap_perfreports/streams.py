"""The base of every vendor stream: date windows per partition, checkpointed per window.

The SDK moves a bookmark to the largest replication-key value it has seen, record by
record. A report does not arrive in key order and may hold days that are not final, so
here the bookmark moves only when a window has been emitted completely: the STATE
message that follows a window's records says "everything up to this day is done".
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from functools import cached_property

from tap_perfreports.sdk_private import StreamHooks
from tap_perfreports.windows import Window, parse_bookmark, plan_windows, resume_from

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Tap

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
RECORDS_PER_BOOKMARK = 4
STATE_MAX_WAIT_SECONDS = 60.0


class ReportStream(StreamHooks):
    """A vendor report extracted in windows of at most `max_window_days` days.

    Subclasses set `name`, `schema`, `primary_keys`, `replication_key` (a date or
    date-time column) and implement `extract_window`. Partition context keys must be
    record columns: the SDK copies every context key into each record.
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
        super().__init__(tap, schema=schema, name=name)
        # Streams built from config pass these; the SDK's __init__ would reset them.
        if primary_keys is not None:
            self.primary_keys = primary_keys
        if replication_key is not None:
            self.replication_key = replication_key

    # What a vendor module provides

    def extract_window(self, context: dict, window: Window) -> Iterable[dict]:
        """Yield the typed records of one window of one partition."""
        raise NotImplementedError

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
        """
        state: t.Mapping[str, t.Any] = self.stream_state
        if context:
            partitions = state.get("partitions") or []
            state = next((p for p in partitions if p.get("context") == dict(context)), {})
        return parse_bookmark(state.get("replication_key_value"))

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
        if not windows:
            self.logger.info("%s: up to date, nothing to extract", self.where(context))
            return windows
        self.logger.info(
            "%s: extracting %s..%s in %d window(s)%s",
            self.where(context),
            windows[0].start,
            windows[-1].end,
            len(windows),
            how,
        )
        return windows

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
        return sum(len(stream.get("partitions") or ()) or 1 for stream in streams)

    def on_record_written(self) -> None:
        self.run.records_since_state += 1

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
        self.after_sync()
        selected = [s for s in self.sdk_tap.streams.values() if s.selected]
        if selected and selected[-1] is self:
            self.run.raise_deferred_failures()
