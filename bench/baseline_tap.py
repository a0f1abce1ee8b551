"""The same tap with the SDK's defaults: the benchmark's baseline.

- the SDK's plain path (`TAP_PERFREPORTS_SDK_PATH=plain`, see `tap_perfreports/sdk_private.py`):
  its default Singer writer (stdlib json, a flush per message), state writer and per-record
  path (child contexts, message objects, recursive type conformance);
- whole-body parsing: each response is read into memory at once, as `response.content`
  would, and JSON is decoded with the standard library, as `response.json()` would.
"""

from __future__ import annotations

import io
import json
import os
import types
import typing as t

from tap_perfreports.http import HttpClient
from tap_perfreports.sdk_private import SDK_PATH_ENV
from tap_perfreports.tap import TapPerfReports
from tap_perfreports.vendors import citygrid, infinity, plumvoice

if t.TYPE_CHECKING:
    from tap_perfreports.fetch_ahead import Request


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


os.environ[SDK_PATH_ENV] = "plain"
HttpClient.send = whole_body  # type: ignore[method-assign]
for module in (citygrid, infinity, plumvoice):
    module.msgspec = STDLIB_JSON  # type: ignore[attr-defined]

if __name__ == "__main__":
    TapPerfReports.cli()
