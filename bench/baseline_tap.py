"""The same tap with the SDK's defaults: the benchmark's baseline.

- the SDK's default Singer writer (stdlib json, a flush per message);
- its per-record path (child contexts, message objects, recursive type conformance);
- whole-body parsing: each response is read into memory at once, as `response.content`
  would, and JSON is decoded with the standard library, as `response.json()` would.
"""

from __future__ import annotations

import io
import json
import types
import typing as t

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter

from tap_perfreports.http import HttpClient
from tap_perfreports.streams import ReportStream
from tap_perfreports.tap import TapPerfReports
from tap_perfreports.vendors import citygrid, infinity, plumvoice

if t.TYPE_CHECKING:
    from tap_perfreports.fetch_ahead import Request


class BaselineTap(TapPerfReports):
    message_writer_class = SingerWriter


class _StdlibDecoder:
    decode = staticmethod(json.loads)


#: What the vendor modules use of msgspec, answered by the standard library.
STDLIB_JSON = types.SimpleNamespace(
    json=types.SimpleNamespace(decode=json.loads, Decoder=_StdlibDecoder),
    DecodeError=ValueError,
)

_send = HttpClient.send


def whole_body(self: HttpClient, request: Request) -> t.IO[bytes]:
    return io.BytesIO(_send(self, request).read())


ReportStream.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE
ReportStream._process_record = Stream._process_record  # type: ignore[method-assign]
HttpClient.send = whole_body  # type: ignore[method-assign]
for module in (citygrid, infinity, plumvoice):
    module.msgspec = STDLIB_JSON  # type: ignore[attr-defined]

if __name__ == "__main__":
    BaselineTap.cli()
