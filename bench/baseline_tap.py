"""The same tap with the SDK's defaults: the benchmark's baseline.

The SDK's default Singer writer (stdlib json, a flush per message), its per-record path
(message objects, recursive type conformance) and whole-body parsing: each response is
read into memory at once and parsed with the standard library.
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter

from tap_perfreports.casting import Cast
from tap_perfreports.streams import ReportStream
from tap_perfreports.tap import TapPerfReports
from tap_perfreports.vendors import infinity, mintegral


def whole_body_lines(
    body: t.IO[bytes],
    columns: t.Mapping[str, str],
    casts: t.Mapping[str, Cast],
    required: t.Collection[str] = (),
) -> t.Iterator[dict[str, t.Any]]:
    rows = [json.loads(line) for line in body.read().splitlines() if line.strip()]
    for row in rows:
        yield {column: casts[column](row.get(key)) for key, column in columns.items()}


_parse_tsv = mintegral.parse_tsv


def whole_body_tsv(lines: t.Iterable[bytes], *args: t.Any, **kwargs: t.Any) -> t.Iterator[dict]:
    return _parse_tsv(list(lines), *args, **kwargs)


class BaselineTap(TapPerfReports):
    message_writer_class = SingerWriter


ReportStream.TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.RECURSIVE
infinity.parse_lines = whole_body_lines  # type: ignore[assignment]
mintegral.parse_tsv = whole_body_tsv  # type: ignore[assignment]

if __name__ == "__main__":
    BaselineTap.cli()
