"""Singer output: msgspec-encoded and buffered, so a record costs no system call.

The SDK's msgspec writer flushes stdout after every message; at tens of thousands of
records a second that flush is most of the cost. Here records collect in a buffer that is
written out when it fills and always before any other message, so a STATE message never
reaches the target ahead of the records it covers. `write_record` also skips building a
message object per record (see `ReportStream._write_record_message`).
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.helpers._state import StateWriter
from singer_sdk.singerlib import SingerMessageType

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import TapState
    from singer_sdk.singerlib import Message

#: Bytes of records held before they are written.
BUFFER_BYTES = 1024 * 1024


class BufferedSingerWriter(MsgSpecWriter):
    """Writes RECORD lines in large blocks and every other message at once."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()

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
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()


class EncodedStateWriter(StateWriter):
    """The SDK's StateWriter deep-copies the whole state after each STATE message, to skip
    an unchanged one next time; with thousands of partitions that copy costs more than the
    records. Here the encoded message is what is kept and compared."""

    def __init__(self, message_writer: BufferedSingerWriter) -> None:
        super().__init__(message_writer)
        self._writer = message_writer
        self._last_line = b""

    def write_state(self, state: TapState) -> None:
        line = encoder.encode({"type": "STATE", "value": state}) + b"\n"
        if line != self._last_line:
            self._writer.write_line(line)
            self._last_line = line
