"""The stream `perfreports_reconciliation`: every reconciliation verdict of a run, landed.

A verdict is known once a report stream has read a window, and it must reach the target
before the STATE that marks the window done (a run killed after that STATE would never
check the window again). So the report streams write their verdicts as they go, through
`land`, and not at this stream's own turn: the SDK syncs streams in name order, and this
one's turn comes before `plumvoice_performance`'s. At its turn it writes no records.

Records go out through the SDK's public surface: the stream's maps (`stream_maps`, which
also flatten), its column selection (`mask`) and the tap's `write_message`. With
`batch_config`, verdicts still travel as RECORD messages: they are few, and the STATE
the SDK writes after each BATCH message then comes after them too.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from functools import cached_property

from singer_sdk import Stream
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform
from singer_sdk.singerlib import RecordMessage, SchemaMessage

from tap_perfreports.sdk_private import BufferedSingerWriter

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from singer_sdk import Tap

    from tap_perfreports.run_state import RunState

STREAM_NAME = "perfreports_reconciliation"

_DATE = {"type": ["string"], "format": "date"}
_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": ["string"]}

SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {**_TEXT, "description": "The vendor's settings key (citygrid, ...)."},
        "stream": {**_TEXT, "description": "The report stream whose rows were checked."},
        "partition_key": {
            **_TEXT,
            "description": "The partition, as key=value pairs ('' for a stream without).",
        },
        "window_start": {**_DATE, "description": "First day the stated totals cover."},
        "window_end": {**_DATE, "description": "Last day the stated totals cover."},
        "metric": {**_TEXT, "description": "The metric the vendor states a total for."},
        "rule": {**_TEXT, "description": "How the rows give that metric."},
        "stated": {**_NUMBER, "description": "The vendor's total (null: not stated)."},
        "summed": {**_NUMBER, "description": "What the rows give: their sum, or ratio."},
        "difference": {**_NUMBER, "description": "stated - summed."},
        "tolerance": {**_NUMBER, "description": "The vendor's rounding allows this much."},
        "verdict": {**_TEXT, "description": "pass, mismatch, or unstated."},
    },
}
KEY = ["vendor", "stream", "partition_key", "window_start", "window_end", "metric"]


def partition_text(context: Mapping[str, t.Any] | None) -> str:
    """A partition as the verdict names it: `publisher_code=guest, placement=all`, or
    `all` for a stream without partitions (a key column is never empty: targets such as
    target-duckdb load an empty string as NULL, and a key column refuses NULL)."""
    return ", ".join(f"{key}={value}" for key, value in (context or {}).items()) or "all"


class ReconciliationStream(Stream):
    """Verdicts, written by the report streams through `land`."""

    name = STREAM_NAME
    replication_key = None

    def __init__(self, tap: Tap, run: RunState) -> None:
        self.sdk_tap = tap
        self.run = run
        self._schema_written = False
        super().__init__(tap, schema=SCHEMA, name=STREAM_NAME)
        self.primary_keys = KEY

    def get_records(self, context: Mapping[str, t.Any] | None) -> Iterator[dict]:
        """Nothing at this stream's own turn: the verdicts were written with their windows."""
        return iter(())

    def land(self, records: list[dict[str, t.Any]]) -> int:
        """Write verdict records now (before the STATE of the window they judge); returns
        how many were written (none when the stream is deselected)."""
        if not self.selected:
            return 0
        if not self._schema_written:
            self._schema_written = True
            for stream_map in self.stream_maps:
                if isinstance(stream_map, RemoveRecordTransform):
                    continue
                self.sdk_tap.write_message(
                    SchemaMessage(
                        stream_map.stream_alias,
                        stream_map.transformed_schema,
                        stream_map.transformed_key_properties,
                    )
                )
        direct = self._direct_writer
        if direct is not None:
            for record in records:
                direct.write_record(self.name, record)
            return len(records)
        mask = self.mask
        extracted = dt.datetime.now(dt.UTC)
        for record in records:
            selected = {k: v for k, v in record.items() if mask.get(("properties", k), True)}
            for stream_map in self.stream_maps:
                mapped = stream_map.transform(dict(selected))
                if mapped is not None:
                    self.sdk_tap.write_message(
                        RecordMessage(
                            stream=stream_map.stream_alias,
                            record=mapped,
                            time_extracted=extracted,
                        )
                    )
        return len(records)

    @cached_property
    def _direct_writer(self) -> BufferedSingerWriter | None:
        """The tap's buffered writer, when nothing can change a verdict record on its way
        (no map but the identity, no flattening, every column selected): records are
        then encoded straight into it, as the report streams' are."""
        writer = self.sdk_tap.message_writer
        maps = self.stream_maps
        plain = (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and not maps[0].flattening_enabled
            and all(self.mask.values())
        )
        return writer if plain and isinstance(writer, BufferedSingerWriter) else None

    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        """After the tap's last stream (this one, when no plumvoice stream follows), the
        run's end: vendors' summaries, then the failures deferred until every stream had
        its turn (`RunState.finish`)."""
        super().finalize_state_progress_markers(state)
        selected = [s for s in self.sdk_tap.streams.values() if s.selected]
        if selected and selected[-1] is self:
            self.run.finish()
