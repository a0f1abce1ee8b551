"""A bad state fails before any request, in one line that names the file, stream and
partition and says how to fix it; Meltano's `singer_state` form is read; a bookmark in
the future is brought back to the latest complete day, with a warning."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tap_perfreports.sandbox import plumvoice as emulated
from tests import reliability_table
from tests.helpers import run_tap
from tests.vendor_cases import CASES

pytestmark = pytest.mark.reliability

STREAM = "plumvoice_performance"
CONTEXT = {"phone": "ALL", "period": "day"}


def local_day(record: dict) -> dt.date:
    """The account-local day a period starts on (the sandbox account is in New York)."""
    moment = dt.datetime.fromisoformat(record["period_start"])
    return moment.astimezone(emulated.ACCOUNT_TZ).date()


def partition(value: t.Any) -> dict:
    return {"context": CONTEXT, "replication_key": "period_start", "replication_key_value": value}


def with_bookmark(value: t.Any) -> str:
    return json.dumps({"bookmarks": {STREAM: {"partitions": [partition(value)]}}})


#: (id, the state file's text, words the last line must hold)
CASES_OF_STATE: list[tuple[str, str, str]] = [
    ("not JSON", "bookmarks: {}", "is not JSON"),
    ("empty", "", "is empty"),
    ("a list", "[]", "holds a JSON list, not an object"),
    ("bookmarks null", '{"bookmarks": null}', "'bookmarks' is a null"),
    ("bookmarks a list", '{"bookmarks": []}', "'bookmarks' is a JSON list"),
    ("stream state a list", json.dumps({"bookmarks": {STREAM: []}}), f"stream {STREAM}:"),
    ("partitions an object", json.dumps({"bookmarks": {STREAM: {"partitions": {}}}}),
     "'partitions' is a JSON object, not a list"),
    ("partition without context", json.dumps({"bookmarks": {STREAM: {"partitions": [{}]}}}),
     "a partition has no 'context' object"),
    ("bookmark garbage", with_bookmark("garbage"),
     f"stream {STREAM} | phone=ALL, period=day: the bookmark 'garbage' is not a date"),
    ("bookmark a number", with_bookmark(12345),
     "the bookmark 12345 is not a date"),
    ("bookmark a list", with_bookmark(["2026-11-28"]),
     "the bookmark ['2026-11-28'] is not a date"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in CASES_OF_STATE],
                         ids=[c[0] for c in CASES_OF_STATE])  # fmt: skip
def test_a_bad_state_fails_before_any_request_in_one_line(sandbox, tmp_path: Path, text, words):
    config_path, state_path = tmp_path / "config.json", tmp_path / "state.json"
    config_path.write_text(json.dumps(CASES["plumvoice"].config(sandbox)))
    state_path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "tap_perfreports", "--config", str(config_path), "--state",
         str(state_path)],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    reliability_table.record(
        "bad state", faults=1, runs=1, unhandled=int("Traceback" in done.stderr)
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"The state file '{state_path}'" in lines[-1], lines[-1]
    assert words in lines[-1], lines[-1]
    if "bookmark" in words or "partition" in words or "stream" in words:
        assert "meltano state clear" in lines[-1], "the line says how to start over"
    assert sandbox.ledger.requests == [], "a request was sent"
    assert done.stdout == ""


def test_meltanos_singer_state_form_is_read(sandbox):
    """`meltano state get` prints {"singer_state": ...}: given that, the run resumes
    from it (the lookback only) instead of extracting everything again."""
    case = CASES["plumvoice"]
    first = run_tap(case.config(sandbox))
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_tap(case.config(sandbox), state={"singer_state": first.state})
    assert again.returncode == 0, again.stderr[-2000:]
    lookback_start = dt.date.fromisoformat(case.end) - dt.timedelta(days=case.lookback_days - 1)
    days = {local_day(r) for r in again.records(STREAM)}
    assert days, "the lookback re-pulled nothing"
    assert min(days) >= lookback_start, "everything was extracted again"
    assert len(again.records(STREAM)) < len(first.records(STREAM))
    assert again.state == first.state


def test_a_future_end_date_stops_at_the_latest_complete_day_and_says_so(sandbox):
    """Found by a new user: end_date 2030-01-01 moved the bookmark to 2030, and every
    later run was "up to date" until then."""
    config = CASES["plumvoice"].config(sandbox, end="2030-01-01")
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in run.stderr.splitlines() if "end_date 2030-01-01" in line]
    assert len(warnings) == 1, warnings
    latest = warnings[0].split("latest complete day, ")[1][:10]
    assert dt.date.fromisoformat(latest) < dt.date.today()
    assert set(run.bookmarks(STREAM).values()) == {latest}
    assert max(local_day(r) for r in run.records(STREAM)).isoformat() <= latest

    # The next run, without end_date, picks up where that one really stopped.
    del config["end_date"]
    again = run_tap(config, state=run.state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "up to date" not in again.stderr
    assert again.records(STREAM), "the lookback re-pulled nothing"


def test_a_future_bookmark_is_brought_back_with_a_warning(sandbox):
    config = CASES["plumvoice"].config(sandbox)
    del config["end_date"]
    state = {"bookmarks": {STREAM: {"partitions": [partition("2031-01-01")]}}}
    run = run_tap(config, state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    warning = next(line for line in run.stderr.splitlines() if "2031-01-01" in line)
    assert "WARNING" in warning
    assert f"stream {STREAM} | phone=ALL, period=day" in warning
    assert "meltano state clear" in warning
    assert "--full-refresh" in warning
    bookmark = run.bookmarks(STREAM)[json.dumps(CONTEXT, sort_keys=True)]
    assert bookmark < "2031-01-01"
    assert bookmark <= dt.date.today().isoformat()
    assert run.records(STREAM), "nothing was extracted: the future bookmark was obeyed"
