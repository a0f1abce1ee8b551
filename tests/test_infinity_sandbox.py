"""Infinity's 50,000-row offset limit, emulated, and the tap paging past it by rowId.

The busy window: installation 1001 at `scale` 60 has about 75,000 events in 31 days.
Every landed record is compared, value by value, with the emulator's own events.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import requests

from tap_perfreports.sandbox import infinity as emulated
from tests.helpers import run_tap, sandbox_config

START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
ROUTE = "/reports/v2/triggers/all"


def busy(sandbox, scale: int = 60) -> list[dict]:
    """Make the emulator's installations busy; the events of 1001 in the window."""
    sandbox.emulators["infinity"].scale = scale
    return emulated.events_between(1001, START, END, dt.UTC, scale)


def expected(events: list[dict], igrp: int = 1001) -> dict[int, dict]:
    """The records the default `infinity_triggers` report must land, by rowId."""
    return {
        e["rowId"]: {
            "igrp": igrp,
            "row_id": e["rowId"],
            "trigger_datetime": e["triggerDatetime"].astimezone(dt.UTC).isoformat(),
            "act": e["act"],
            "vid": e["vid"],
            "ch": e["ch"],
            "goal": e["goal"],
            "src_phone_number": e["srcPhoneNumber"],
            "ip": e["ip"],
            "host": e["host"],
            "whois": e["whois"],
            "revenue": e["revenue"],
        }
        for e in events
    }


def triggers(sandbox, start: dt.date = START, end: dt.date = END, **settings: t.Any) -> dict:
    settings = {
        "igrps": [1001],
        "reports": [emulated_default_triggers()],
        **settings,
    }
    return sandbox_config(sandbox, "infinity", start.isoformat(), end.isoformat(), **settings)


def emulated_default_triggers() -> dict:
    from tap_perfreports.vendors.infinity import DEFAULT_REPORTS

    return dict(DEFAULT_REPORTS[0])


def report_requests(sandbox) -> list:
    return [r for r in sandbox.ledger.requests if r.path == ROUTE]


def assert_lands_exactly(run, events: list[dict]) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    records = run.records("infinity_triggers")
    ids = [r["row_id"] for r in records]
    assert len(ids) == len(set(ids)), "a row was emitted twice"
    truth = expected(events)
    assert set(ids) == set(truth), f"{len(set(truth) - set(ids))} rows lost"
    wrong = [r for r in records if r != truth[r["row_id"]]]
    assert not wrong, f"{len(wrong)} rows with other values, first: {wrong[0]}"


def test_a_window_of_more_than_50000_events_lands_every_row_once_with_its_values(sandbox):
    events = busy(sandbox)
    assert len(events) > 70_000
    run = run_tap(triggers(sandbox))
    assert_lands_exactly(run, events)
    sent = report_requests(sandbox)
    assert [r.status for r in sent] == [200] * len(sent), "a request was refused"
    assert all(
        int(r.query["offset"][0]) + int(r.query["limit"][0]) <= emulated.MAX_OFFSET_ROWS
        for r in sent
    )
    # one window: batches of 50,000 by offset, the next one after the 50,000th rowId
    ordered = sorted(e["rowId"] for e in events)
    assert [r.query.get("filter[]") for r in sent if "filter[]" in r.query] == [
        [f"rowId-gt-value-{ordered[49_999]}"]
    ] * (1 + (len(events) - 50_000) // 10_000)
    assert len(sent) == len(events) // 10_000 + 1
    assert set(run.bookmarks("infinity_triggers").values()) == {END.isoformat()}


def offset_pages(base_url: str) -> t.Iterator[requests.Response]:
    """A client that pages the busy window by limit/offset alone, until a short page."""
    offset = 0
    while True:
        answer = requests.get(
            base_url + "/triggers/all",
            params={
                "igrp": 1001,
                "startDate": START.isoformat(),
                "endDate": END.isoformat(),
                "display[]": ["rowId"],
                "sort[]": "rowId-asc",
                "limit": 10_000,
                "offset": offset,
            },
            auth=(emulated.USERNAME, emulated.PASSWORD),
            timeout=60,
        )
        yield answer
        rows = answer.text.splitlines() if answer.ok else []
        if len(rows) < 10_000:
            return
        offset += len(rows)


def test_paging_the_busy_window_by_offset_is_refused_past_50000_rows(sandbox):
    events = busy(sandbox)
    answers = list(offset_pages(sandbox.url("infinity")))
    assert [a.status_code for a in answers] == [200] * 5 + [400]
    assert answers[-1].json() == (
        "A report cannot pull more than 50000 rows by offset; filter on rowId to get the rest"
    )
    assert sum(len(a.text.splitlines()) for a in answers[:-1]) == 50_000 < len(events)


def test_a_limit_that_answers_an_empty_page_instead_loses_rows_paged_by_offset(sandbox):
    """The fault mode: past 50,000 rows the API answers an empty page, which an offset
    pager believes; the tap, paging by rowId, still lands every row."""
    events = busy(sandbox)
    sandbox.emulators["infinity"].past_offset_limit = "empty"
    answers = list(offset_pages(sandbox.url("infinity")))
    assert [a.status_code for a in answers] == [200] * 6
    assert answers[-1].text == ""
    landed = [int(line.split(":")[1].rstrip("}")) for a in answers for line in a.text.splitlines()]
    assert len(landed) == 50_000 < len(events)
    run = run_tap(triggers(sandbox))
    assert_lands_exactly(run, events)


def test_a_real_limit_below_batch_size_answering_empty_pages_is_caught_and_paged_past(sandbox):
    """Were the limit lower than 50,000 and silent, an empty page after full ones is
    checked by rowId: nothing is lost, and the log says to lower batch_size."""
    events = busy(sandbox, scale=2)
    emulator = sandbox.emulators["infinity"]
    emulator.offset_row_limit, emulator.past_offset_limit = 1_000, "empty"
    assert len(events) > 2_000
    run = run_tap(triggers(sandbox, page_size=250))
    assert_lands_exactly(run, events)
    assert "its offset limit is below infinity.batch_size (50000)" in run.stderr
    assert "Lower infinity.batch_size" in run.stderr


def test_a_real_limit_below_batch_size_that_refuses_fails_with_one_line_naming_the_setting(
    sandbox,
):
    busy(sandbox, scale=2)
    sandbox.emulators["infinity"].offset_row_limit = 1_000
    run = run_tap(triggers(sandbox, page_size=250))
    assert run.returncode == 1
    line = run.last_log_line
    assert "stream infinity_triggers | igrp=1001 | window 2026-10-01..2026-10-31" in line
    assert "offset 1000" in line
    assert "cannot pull more than 1000 rows by offset" in line
    assert "lower infinity.batch_size" in line
    assert "Traceback" not in run.stderr
    run = run_tap(triggers(sandbox, page_size=250, batch_size=1_000))
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_greater_than_operand_is_a_setting(sandbox):
    """Our page leaves the operand list out: if Infinity's code is not `gt`, the run
    fails naming the setting, and the setting fixes it."""
    events = busy(sandbox, scale=1)
    sandbox.emulators["infinity"].greater_than_operand = "greaterThan"
    first_week = START + dt.timedelta(days=6)
    week = [e for e in events if e["triggerDatetime"].date() <= first_week]
    config = triggers(sandbox, end=first_week, page_size=40, batch_size=100)
    run = run_tap(config)
    assert run.returncode == 1
    assert "Unsupported filter rowId-gt-value-" in run.last_log_line
    assert "check infinity.row_id_operand" in run.last_log_line
    config["infinity"]["row_id_operand"] = "greaterThan"
    run = run_tap(config)
    assert_lands_exactly(run, week)
    filters = {f for r in report_requests(sandbox) for f in r.query.get("filter[]", [])}
    assert any(f.startswith("rowId-greaterThan-value-") for f in filters)


def test_an_aggregate_day_with_more_rows_than_a_batch_fails_instead_of_being_cut(sandbox):
    """metrics/channels rows have no rowId: a day fuller than one batch is an error."""
    config = sandbox_config(
        sandbox,
        "infinity",
        "2026-10-01",
        "2026-10-01",
        igrps=[1001],
        page_size=2,
        batch_size=5,
        reports=[{"name": "channels", "route": "metrics/channels", "display": ["ch"]}],
    )
    run = run_tap(config)
    assert run.returncode == 1
    line = run.last_log_line
    assert "stream infinity_channels | igrp=1001 | window 2026-10-01 | offset 4" in line
    assert "5 rows or more in one query" in line
    assert [r.query["offset"][0] for r in sandbox.ledger.requests if "offset" in r.query] == [
        "0",
        "2",
        "4",
    ]


def test_windows_and_installations_are_still_fetched_ahead_while_a_window_pages_by_row_id(
    sandbox,
):
    """The first page of every window is known before any answer: with four requests at
    once they are all on their way while the first window's later pages wait for it."""
    busy(sandbox, scale=4)
    sandbox.faults.latency = 0.1
    end = START + dt.timedelta(days=40)  # two windows per installation
    config = triggers(
        sandbox, end=end, igrps=[1001, 1002], page_size=500, batch_size=1_000,
        max_concurrent_requests=4,
    )  # fmt: skip
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    sent = report_requests(sandbox)
    first_pages = [
        i for i, r in enumerate(sent) if "filter[]" not in r.query and r.query["offset"] == ["0"]
    ]
    assert first_pages == [0, 1, 2, 3], "the four windows' first pages went out together"
    assert sum("filter[]" in r.query for r in sent) > 4, "the windows paged by rowId"
    records = run.records("infinity_triggers")
    truth = expected(emulated.events_between(1001, START, end, dt.UTC, 4))
    truth.update(expected(emulated.events_between(1002, START, end, dt.UTC, 4), igrp=1002))
    assert records == sorted(truth.values(), key=lambda r: (r["igrp"], r["row_id"]))


@pytest.mark.parametrize("mode", emulated.PAST_OFFSET_LIMIT)
def test_the_emulator_serves_up_to_the_limit_by_offset_whatever_the_mode(sandbox, mode):
    busy(sandbox, scale=2)
    emulator = sandbox.emulators["infinity"]
    emulator.offset_row_limit, emulator.past_offset_limit = 100, mode
    params = {
        "igrp": 1001,
        "startDate": "2026-10-01",
        "endDate": "2026-10-05",
        "sort[]": "rowId-asc",
        "display[]": "rowId",
    }
    auth = (emulated.USERNAME, emulated.PASSWORD)
    url = sandbox.url("infinity") + "/triggers/all"
    inside = requests.get(url, params={**params, "limit": 60, "offset": 40}, auth=auth, timeout=30)
    assert len(inside.text.splitlines()) == 60
    past = requests.get(url, params={**params, "limit": 60, "offset": 80}, auth=auth, timeout=30)
    if mode == "refuse":
        assert past.status_code == 400
    else:
        assert (past.status_code, len(past.text.splitlines())) == (200, 20)
    # rows after a rowId: sorted by rowId alone, or refused
    after = int(inside.text.splitlines()[-1].split(":")[1].rstrip("}"))
    keyed = {**params, "filter[]": f"rowId-gt-value-{after}", "limit": 10}
    answer = requests.get(url, params=keyed, auth=auth, timeout=30)
    assert next(int(x.split(":")[1].rstrip("}")) for x in answer.text.splitlines()) > after
    both = {**keyed, "sort[]": ["rowId-asc", "act-desc"]}
    refused = requests.get(url, params=both, auth=auth, timeout=30)
    assert refused.status_code == 400
    assert refused.json() == "Paging by rowId needs sort[]=rowId-asc and no other sort"
