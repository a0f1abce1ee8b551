"""The buffered writer and the direct record path write what the SDK's own path writes."""

from __future__ import annotations

import json

from singer_sdk.singerlib import RecordMessage, StateMessage

from tap_perfreports.sdk_private import BufferedSingerWriter, EncodedStateWriter
from tests.helpers import run_tap, sandbox_config, without_times


def test_records_wait_in_the_buffer_and_any_other_message_flushes_them_first(capfdbinary):
    writer = BufferedSingerWriter()
    writer.write_record("s", {"id": 1})
    writer.write_message(RecordMessage(stream="s", record={"id": 2}))
    assert capfdbinary.readouterr().out == b"", "a record was written on its own"
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    lines = [json.loads(line) for line in capfdbinary.readouterr().out.splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "RECORD", "STATE"]
    assert [m["record"]["id"] for m in lines[:2]] == [1, 2]
    assert lines[0]["time_extracted"].endswith("Z")  # as the SDK writes it


def test_the_direct_record_path_writes_what_the_sdk_path_writes(sandbox):
    """A stream map sends the records through the SDK's own path: same output."""
    config = sandbox_config(sandbox, "infinity", "2026-10-01", "2026-10-03", igrps=[1001])
    direct = run_tap(config)
    mapped = run_tap({**config, "stream_maps": {"infinity_triggers": {"act": "act"}}})
    assert direct.returncode == mapped.returncode == 0, direct.stderr + mapped.stderr
    records = [m for m in direct.messages if m["type"] == "RECORD"]
    assert len(records) > 100
    assert without_times(direct.messages) == without_times(mapped.messages)
    assert all(m["time_extracted"].endswith("Z") for m in records)


def test_state_is_encoded_once_written_after_pending_records_and_not_repeated(capfdbinary):
    writer = BufferedSingerWriter()
    states = EncodedStateWriter(writer)
    state = {"bookmarks": {"s": {"partitions": [{"context": {"a": 1}, "x": "2026-01-01"}]}}}
    writer.write_record("s", {"id": 1})
    states.write_state(state)
    states.write_state(json.loads(json.dumps(state)))  # equal, not the same object
    state["bookmarks"]["s"]["partitions"][0]["x"] = "2026-01-02"
    states.write_state(state)
    lines = [json.loads(line) for line in capfdbinary.readouterr().out.splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "STATE", "STATE"]
    assert lines[1] == {"type": "STATE", "value": json.loads(json.dumps(lines[1]["value"]))}
    assert [m["value"]["bookmarks"]["s"]["partitions"][0]["x"] for m in lines[1:]] == [
        "2026-01-01",
        "2026-01-02",
    ]


def test_only_complete_lines_are_written_so_an_interrupt_cannot_splice_two(capfdbinary):
    """A signal may land between a record's JSON and its newline; what follows (the
    STATE written on the way out) must not run into the half line."""
    writer = BufferedSingerWriter()
    writer.write_record("s", {"id": 1})
    writer.write_line(b'{"type":"RECORD","stream":"s","rec')  # cut short by an interrupt
    assert capfdbinary.readouterr().out.count(b"\n") == 1
    BufferedSingerWriter.flush_all()
    assert capfdbinary.readouterr().out == b"", "half a line was written"
    writer.write_line(b'ord":{"id":2}}\n')
    lines = [json.loads(line) for line in capfdbinary.readouterr().out.splitlines()]
    assert [m["record"]["id"] for m in lines] == [2]


def test_an_unchanged_state_still_writes_the_records_before_it(capfdbinary):
    """The data-loss defect: an incremental run whose bookmarks did not move skipped its
    last STATE as unchanged, and the re-pulled records never left the buffer."""
    writer = BufferedSingerWriter()
    states = EncodedStateWriter(writer)
    states.write_state({"bookmarks": {}})
    capfdbinary.readouterr()
    writer.write_record("s", {"id": 1})
    states.write_state({"bookmarks": {}})
    lines = [json.loads(line) for line in capfdbinary.readouterr().out.splitlines()]
    assert [m["type"] for m in lines] == ["RECORD"]
