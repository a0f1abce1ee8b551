"""The same tap with the SDK's default Singer writer: the benchmark's baseline."""

from __future__ import annotations

from singer_sdk.io_base import SingerWriter

from tap_perfreports.tap import TapPerfReports


class BaselineTap(TapPerfReports):
    message_writer_class = SingerWriter


if __name__ == "__main__":
    BaselineTap.cli()
