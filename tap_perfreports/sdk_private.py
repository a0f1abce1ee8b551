"""Every use of the Meltano SDK's private surface, in one place.

The SDK has no public hook for four things the tap needs. These stay on in every mode:
- bookmarks that move when a window is finished, not per record
  (`Stream._increment_stream_state` does nothing; `ReportStream.checkpoint` moves them);
- the finished windows' STATE when a stream fails or is interrupted part-way
  (`Stream._sync_records` calls `ReportStream.on_sync_stopped`);
- an interrupt that ends the run with a clear line and a non-zero exit, instead of
  "Gracefully shutting down..." and exit 0 (`PluginBase._handle_termination`);
- credentials registered for redaction before the config is validated, and an invalid
  setting reported as one line (`PluginBase._validate_config`).

And four shortcuts for throughput, the *fast path*:
- RECORD lines encoded straight into a buffer, with the SDK's msgspec encoder, when no
  stream map, flattening or deselection can change a record (`Stream._write_record_message`,
  `Stream._stream_version`, `singer_sdk.contrib.msgspec.encoder`);
- for those records, the SDK's record loop without its per-record calls
  (`Stream._sync_records`, `_get_state_partition_context`, `_write_starting_replication_value`,
  `_finalize_state`, `_write_state_message`);
- no child context built per record for streams without children
  (`Stream._process_record`);
- STATE encoded once and compared as bytes (`singer_sdk.helpers._state.StateWriter`,
  `Tap._state_writer`).

`TAP_PERFREPORTS_SDK_PATH=plain` turns the fast path off: the SDK's default writer, state
writer, record path and type conformance run instead. The differential tests use that as
the oracle for the fast path (same records, same STATE at the same points).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import typing as t
import weakref
from functools import cached_property

from singer_sdk import Stream, Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import Catalog, SingerMessageType

from tap_perfreports.errors import ConfigError, RunInterrupted

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers.types import TapState
    from singer_sdk.singerlib import Message

#: Set to "plain" to run on the SDK's own output, state and record path.
SDK_PATH_ENV = "TAP_PERFREPORTS_SDK_PATH"

#: Bytes of records held before they are written.
BUFFER_BYTES = 1024 * 1024
#: The direct record loop adds to the SDK's record counter this many records at a time.
RECORDS_COUNTED_AT_ONCE = 1000

#: Signals that interrupt a run; their handlers are the SDK's, overridden below.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def fast_path() -> bool:
    """Whether the shortcuts are on (the default)."""
    return os.environ.get(SDK_PATH_ENV, "").strip().lower() != "plain"


class BufferedSingerWriter(MsgSpecWriter):
    """Writes RECORD lines in large blocks and every other message at once.

    The SDK's msgspec writer flushes stdout after every record; at tens of thousands of
    records a second that flush is most of the cost. Records collect here and are written
    when the buffer fills, before any other message (so a STATE never overtakes its
    records), at the end of each stream, and when the run ends in any way (`flush_all`).
    Only complete lines are ever written: an interrupt between encoding a record and its
    newline cannot leave half a line for the next message to run into.
    """

    _live: t.ClassVar[weakref.WeakSet[BufferedSingerWriter]] = weakref.WeakSet()

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        BufferedSingerWriter._live.add(self)

    @classmethod
    def flush_all(cls) -> None:
        """Write what every writer in the process holds (the run is ending)."""
        for writer in list(cls._live):
            writer.flush()

    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= BUFFER_BYTES:
            self.flush()

    def write_record(
        self, stream: str, record: dict[str, t.Any], version: int | None = None
    ) -> None:
        """A RECORD message, as the SDK would write it, without building the message."""
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = dt.datetime.now(dt.UTC)
        encoder.encode_into(message, self._pending, -1)
        self._pending += b"\n"
        if len(self._pending) >= BUFFER_BYTES:
            self.flush()

    def write_line(self, line: bytes) -> None:
        """A message encoded already, written at once (after the records before it)."""
        self._pending += line
        self.flush()

    def flush(self) -> None:
        """Write every complete line held, once. Interrupts wait until the write is done:
        a write cut short would leave the buffer not knowing what was written."""
        end = self._pending.rfind(b"\n") + 1
        masked = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
        try:
            if end:
                whole = end == len(self._pending)
                try:
                    sys.stdout.buffer.write(self._pending if whole else self._pending[:end])
                finally:
                    del self._pending[:end]
            sys.stdout.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, masked)


class EncodedStateWriter(StateWriter):
    """The SDK's StateWriter deep-copies the whole state after each STATE message, to skip
    an unchanged one next time; with thousands of partitions that copy costs more than the
    records. Here the encoded message is what is kept and compared. An unchanged STATE is
    skipped, but the records before it are still written now."""

    def __init__(self, message_writer: BufferedSingerWriter) -> None:
        super().__init__(message_writer)
        self._writer = message_writer
        self._last_line = b""

    def write_state(self, state: TapState) -> None:
        line = encoder.encode({"type": "STATE", "value": state}) + b"\n"
        if line == self._last_line:
            self._writer.flush()
            return
        self._writer.write_line(line)
        self._last_line = line


class TapHooks(Tap):
    """The tap's side: the writers, config validation and interrupts."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        if not fast_path():
            kwargs.setdefault("message_writer", SingerWriter())
        super().__init__(*args, **kwargs)
        if isinstance(self.message_writer, BufferedSingerWriter):
            self._state_writer = EncodedStateWriter(self.message_writer)

    def prepare_config(self, config: dict[str, t.Any]) -> dict[str, t.Any]:
        """Called with the raw config before it is validated (the tap's hook)."""
        return config

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Always raises: the SDK skips validation for discovery, but Meltano discovers
        before every run, and an invalid setting must fail there as one line too."""
        self._config = self.prepare_config(self._config)
        try:
            return super()._validate_config(raise_errors=True)
        except ConfigValidationError as exc:
            raise ConfigError(*name_setting(exc.errors[0] if exc.errors else str(exc))) from None

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Unwind the run from wherever it is: streams write what they finished
        (`ReportStream.on_sync_stopped`), and the CLI exits non-zero. A second signal
        (Ctrl-C reaches the whole process group, and Meltano then sends SIGTERM too) must
        not cut that short: only the first counts."""
        if self._interrupted:
            return
        self._interrupted = True
        raise RunInterrupted(signum)

    _interrupted = False

    def setup_mapper(self) -> None:
        """The SDK registers stream maps for every stream of the catalog and checks each
        map's key properties against the stream's selected columns. A Meltano job that
        deselects streams (a per-vendor job's catalog holds the other vendors' streams,
        every column deselected) then failed on maps configured for those: only the
        streams the catalog selects are registered, the only ones that are synced."""
        super(Tap, self).setup_mapper()  # PluginBase's: the mapper, without Tap's registration
        catalog = Catalog(
            {
                stream_id: entry
                for stream_id, entry in self.catalog.items()
                if entry.metadata.resolve_selection().get((), True)
            }
        )
        self.mapper.register_raw_streams_from_catalog(catalog)


def name_setting(error: str) -> tuple[str, str]:
    """(setting, rule) from the SDK's "<rule> in config['a']['b']" validation message."""
    import re

    rule, found, path = error.rpartition(" in config")
    if not found:
        return "config", error
    parts = re.findall(r"\['([^']*)'\]|\[(\d+)\]", path)
    return ".".join(name or index for name, index in parts), rule


class StreamHooks(Stream):
    """The stream's side: bookmarks per window, STATE on failure, and the record path."""

    #: Values are cast to their schema types by the vendor parsers, once; on the plain
    #: path the SDK conforms them again (a no-op, which the differential tests check).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        if not fast_path():
            self.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE

    def on_record_written(self) -> None:
        """Called after each RECORD message (the stream's hook)."""

    def mark_state_changed(self) -> None:
        """A bookmark moved: the SDK writes a stream's last STATE only if something
        changed since its previous one, and records are all it knows of."""
        self.state_manager.is_flushed = False

    def on_sync_stopped(self, *, writing_messages: bool) -> None:
        """Called when the stream's sync stops part-way: a failure or an interrupt."""

    def _increment_stream_state(
        self, latest_record: dict, *, context: t.Mapping[str, t.Any] | None = None
    ) -> None:
        """Records do not move bookmarks here; finished windows do."""

    def _sync_records(
        self, context: t.Mapping[str, t.Any] | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        fast = write_messages and self._writes_records_directly and self._plain_record_loop
        try:
            if fast:
                yield from self._write_records_directly(context)
            else:
                yield from super()._sync_records(context, write_messages=write_messages)
        except BaseException:
            self.on_sync_stopped(writing_messages=write_messages)
            raise

    @cached_property
    def _plain_record_loop(self) -> bool:
        """Whether the SDK's record loop would do nothing per record but copy the partition
        context into the record and write it: selected, no children, no dry-run limit,
        no `post_process`."""
        return (
            self.selected
            and not self.child_streams
            and self.ABORT_AT_RECORD_COUNT is None
            and type(self).post_process is Stream.post_process
        )

    def _write_records_directly(
        self, context: t.Mapping[str, t.Any] | None
    ) -> t.Generator[dict, t.Any, t.Any]:
        """The SDK's `_sync_records` for the records it would write unchanged, without its
        per-record calls: the same metrics, bookmarks' starting values and finalization,
        STATE every STATE_MSG_FREQUENCY records, and the same messages (the differential
        tests compare them with the SDK's own loop). It yields no record: `Stream.sync`,
        its only caller when messages are written, does nothing with them."""
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        contexts = [context] if context is not None else self.partitions
        writer = t.cast("BufferedSingerWriter", self._tap.message_writer)
        write, name, version = writer.write_record, self.name, self._stream_version
        written_hook, frequency = self.on_record_written, self.STATE_MSG_FREQUENCY
        written = 0
        with record_counter, timer:
            for each in contexts or [{}]:
                record_counter.with_context(each)
                timer.with_context(each)
                current = each or None
                partition = self._get_state_partition_context(current)
                self._write_starting_replication_value(current)
                copied = tuple((partition or {}).items())
                counted = 0
                records = t.cast("t.Iterable[dict]", self.get_records(current))
                for record in records:
                    for key, value in copied:
                        if key not in record:
                            record[key] = value
                    write(name, record, version)
                    written_hook()
                    written += 1
                    counted += 1
                    if written % frequency == 0:
                        self.state_manager.is_flushed = False
                        self._write_state_message()
                    if counted == RECORDS_COUNTED_AT_ONCE:
                        record_counter.increment(counted)
                        counted = 0
                record_counter.increment(counted)
                if current == partition:
                    self._finalize_state(self.get_context_state(current))
        if not context:
            self._finalize_state(self.stream_state)
        if written:
            self.state_manager.is_flushed = False
        self._write_state_message()
        yield from ()

    def _process_record(
        self,
        record: dict,
        child_context: t.Mapping[str, t.Any] | None = None,
        partition_context: t.Mapping[str, t.Any] | None = None,
    ) -> None:
        """The SDK copies the partition context into the record and, for each record,
        builds and copies a child context; without children only the first is needed."""
        if self._sdk_processes_records:
            super()._process_record(record, child_context, partition_context)
            return
        for key, value in (partition_context or {}).items():
            if key not in record:
                record[key] = value

    def _write_record_message(self, record: dict) -> None:
        """The SDK's per-record path builds a message object, drops deselected fields,
        conforms types and applies stream maps. When none of that can change the record,
        the writer encodes it directly."""
        if self._writes_records_directly:
            writer = t.cast("BufferedSingerWriter", self._tap.message_writer)
            writer.write_record(self.name, record, self._stream_version)
            self.state_manager.is_flushed = False
        else:
            super()._write_record_message(record)
        self.on_record_written()

    @cached_property
    def _sdk_processes_records(self) -> bool:
        return bool(self.child_streams) or not fast_path()

    @cached_property
    def _writes_records_directly(self) -> bool:
        from singer_sdk.mapper import SameRecordTransform

        maps = self.stream_maps
        return (
            isinstance(self._tap.message_writer, BufferedSingerWriter)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and not maps[0].flattening_enabled
            and all(self.mask.values())
        )
