"""CityGrid failures through the CLI: retries, calendar mismatches, vendor errors."""

from __future__ import annotations

import datetime as dt
import os

from tap_perfreports.sandbox import citygrid as emulator
from tap_perfreports.sandbox.faults import Fault
from tests.helpers import run_tap, sandbox_config

NOON_FRIDAY = "2026-11-20T12:00:00-08:00"


def guest_overall(sandbox, **settings):
    return sandbox_config(
        sandbox,
        "citygrid",
        "2026-11-10",
        "2026-11-19",
        publisher_codes=["guest"],
        view_types=["overall"],
        **settings,
    )


def run_at_noon(sandbox, config):
    sandbox.emulators["citygrid"].now = dt.datetime.fromisoformat(NOON_FRIDAY)
    return run_tap(config, env={**os.environ, emulator.NOW_ENV: NOON_FRIDAY})


def served(sandbox) -> set[tuple]:
    return {k for k in sandbox.ledger.served_keys("citygrid:overall") if k[2] >= "2026-11-10"}


def test_transient_failures_are_retried_to_a_complete_run(sandbox):
    for fault in (
        Fault("status", vendor="citygrid", status=500, times=2),
        Fault("truncate", vendor="citygrid", after_bytes=200),
        Fault("drop", vendor="citygrid"),
    ):
        sandbox.faults.add(fault)
    run = run_at_noon(sandbox, guest_overall(sandbox, format="csv"))
    assert run.returncode == 0, run.stderr
    landed = {
        (r["publisher_code"], r["placement"], r["date"]) for r in run.records("citygrid_overall")
    }
    assert landed == served(sandbox)
    assert len(landed) == len(run.records("citygrid_overall"))


def test_a_report_covering_other_days_than_expected_fails_loudly(sandbox):
    body = (
        b'{"view_type": "overall", "placements": null, "from": "2026-11-12", '
        b'"to": "2026-11-19", "publisher_codes": ["guest"], "daily_results": []}'
    )
    sandbox.faults.add(Fault("body", vendor="citygrid", body=body))
    run = run_at_noon(sandbox, guest_overall(sandbox))
    assert run.returncode == 1
    assert "covered 2026-11-12..2026-11-19, not the expected 2026-11-10..2026-11-19" in (
        run.last_log_line
    )
    assert "report_time last14Days" in run.last_log_line
    assert run.bookmarks("citygrid_overall") in (
        {},
        {'{"placement": "all", "publisher_code": "guest"}': None},
    )


def test_a_csv_row_outside_the_preset_fails_loudly(sandbox):
    body = (
        b'"Date Recorded","Billable Connections","Revenue(USD)","CPC(USD)","LTC",'
        b'"LTC Revenue(USD)"\n'
        b'"2026-10-01","8","11.5","1.44","2","3.25"\n'
        b'"Total: ","8","11.5","1.44","2","3.25"\n'
    )
    sandbox.faults.add(Fault("body", vendor="citygrid", body=body))
    run = run_at_noon(sandbox, guest_overall(sandbox, format="csv"))
    assert run.returncode == 1
    assert "a row for 2026-10-01 is outside last14Days" in run.last_log_line
    assert run.records("citygrid_overall") == []


def test_a_refused_accept_header_names_the_format_setting(sandbox):
    sandbox.faults.add(Fault("status", vendor="citygrid", status=406))
    run = run_at_noon(sandbox, guest_overall(sandbox))
    assert run.returncode == 1
    assert "HTTP 406" in run.last_log_line
    assert "citygrid.format" in run.last_log_line
    assert "stream citygrid_overall | publisher_code=guest, placement=all" in run.last_log_line


def test_wrong_password_with_configured_codes_is_not_skipped_like_a_403(sandbox):
    run = run_at_noon(sandbox, guest_overall(sandbox, password="Wr0ng-citygrid-pw"))
    assert run.returncode == 1
    assert "HTTP 401" in run.last_log_line
    assert "skipped" not in run.stderr
    assert len([r for r in sandbox.ledger.requests if r.vendor == "citygrid"]) == 1


def test_persistent_server_errors_give_up_with_what_to_do(sandbox):
    sandbox.faults.add(Fault("status", vendor="citygrid", status=500, times=-1))
    run = run_at_noon(sandbox, guest_overall(sandbox))
    assert run.returncode == 1
    assert "gave up after 8 tries" in run.last_log_line
    assert "Traceback" not in run.stderr
