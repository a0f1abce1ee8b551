"""STATE after windows: every window while the state is small, fewer once it holds many
bookmarks (each message carries all of them), and never ahead of the records it covers."""

from __future__ import annotations

import datetime as dt
import json

from tap_perfreports.sandbox import plumvoice as emulated
from tap_perfreports.sandbox.faults import Fault
from tap_perfreports.streams import RECORDS_PER_BOOKMARK, SMALL_STATE
from tests.helpers import run_tap, sandbox_config

STREAM = "plumvoice_performance"


def backfill(sandbox, phones: list[str], end: str = "2025-12-31", state: dict | None = None):
    """Monthly periods from 2024: one window per phone and year."""
    emulator = sandbox.emulators["plumvoice"]
    emulator.requests_per_window = 10**6  # the rate limit is not under test
    config = sandbox_config(sandbox, "plumvoice", "2024-01-01", end, phones=phones, period="month")
    run = run_tap(config, state=state)
    assert run.returncode == 0, run.stderr
    return run


def assert_no_state_ahead_of_its_records(run, before: dict | None = None) -> None:
    """Each STATE's bookmarks cover only periods whose records were written before it
    (or by the run that left the incoming state `before`)."""
    done_before = {
        p["context"]["phone"]: dt.date.fromisoformat(p["replication_key_value"])
        for p in (before or {}).get("bookmarks", {}).get(STREAM, {}).get("partitions", [])
    }
    final = run.records(STREAM)
    assert final
    seen: set[tuple[str, str]] = set()
    for message in run.messages:
        if message["type"] == "RECORD":
            seen.add((message["record"]["phone"], message["record"]["period_start"]))
        elif message["type"] == "STATE":
            entry = message["value"].get("bookmarks", {}).get(STREAM, {})
            for partition in entry.get("partitions", []):
                done = partition.get("replication_key_value")
                if done is None:
                    continue
                phone = partition["context"]["phone"]
                since = done_before.get(phone, dt.date.min)
                covered = {
                    (r["phone"], r["period_start"])
                    for r in final
                    if r["phone"] == phone and since < local_day(r) <= dt.date.fromisoformat(done)
                }
                assert covered <= seen, f"STATE marks {phone} done to {done} too early"


def local_day(record: dict) -> dt.date:
    moment = dt.datetime.fromisoformat(record["period_start"])
    return moment.astimezone(emulated.ACCOUNT_TZ).date()


def test_a_small_state_is_written_after_every_window(sandbox):
    phones = list(emulated.PHONES)
    run = backfill(sandbox, phones)
    windows = 2 * len(phones)  # two years
    # one STATE per window (some windows end where an earlier STATE already stood)
    assert len(run.states) >= windows
    assert_no_state_ahead_of_its_records(run)


def test_a_large_state_waits_for_records_yet_ends_complete(sandbox):
    """A second year on top of a state that holds every phone's bookmark already."""
    sandbox.emulators["plumvoice"].scale = 15
    phones = list(emulated.phones(15))
    assert len(phones) > SMALL_STATE
    first = backfill(sandbox, phones, end="2024-12-31")
    run = backfill(sandbox, phones, state=first.state)
    records = run.records(STREAM)
    windows = len(phones)
    assert len(records) >= 12 * len(phones)  # and what lookback re-reads
    # a STATE per RECORDS_PER_BOOKMARK x bookmarks records, plus the final one
    most = len(records) // (RECORDS_PER_BOOKMARK * len(phones)) + 2
    assert 2 <= len(run.states) <= most < windows
    assert_no_state_ahead_of_its_records(run, first.state)
    assert set(run.bookmarks(STREAM).values()) == {"2025-12-31"}
    assert len(run.bookmarks(STREAM)) == len(phones)


def test_a_failed_run_still_writes_the_windows_it_finished(sandbox):
    """A held-back STATE is written before the failure ends the run."""
    sandbox.emulators["plumvoice"].scale = 15
    phones = list(emulated.phones(15))
    first = backfill(sandbox, phones, end="2024-12-31")
    # the 41st request of the second year is refused for good
    sandbox.faults.add(Fault("status", vendor="plumvoice", status=400, skip=40, times=-1))
    emulator = sandbox.emulators["plumvoice"]
    config = sandbox_config(
        sandbox, "plumvoice", "2024-01-01", "2025-12-31", phones=phones, period="month"
    )
    emulator.requests_per_window = 10**6
    run = run_tap(config, state=first.state)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    landed = {r["phone"] for r in run.records(STREAM)}
    bookmarks = {json.loads(k)["phone"]: v for k, v in run.bookmarks(STREAM).items()}
    done = {p for p, day in bookmarks.items() if day == "2025-12-31"}
    # too few records for a STATE on the way (4 per bookmark): without the STATE written
    # on failure, the last one would be the incoming state
    assert len(run.records(STREAM)) < RECORDS_PER_BOOKMARK * len(phones)
    # every phone whose windows all landed is done; one may have landed half
    assert done <= landed
    assert len(done) >= len(landed) - 1 >= 10
    assert_no_state_ahead_of_its_records(run, first.state)
