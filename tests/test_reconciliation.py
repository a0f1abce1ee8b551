"""Reconciliation through the CLI: verdicts land in `perfreports_reconciliation`, clean
sandbox runs pass, and a dropped day, an altered value and a wrong total are each caught,
in `warn` mode (logged, extracted) and in `fail` mode (the window is not written, its
STATE not moved, and the next run extracts it)."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_perfreports.sandbox.faults import Fault
from tests.helpers import TapRun, run_tap
from tests.reliability.scenarios import done
from tests.vendor_cases import CASES, all_vendors

VERDICTS = "perfreports_reconciliation"
KEY = ["vendor", "stream", "partition_key", "window_start", "window_end", "metric"]
#: Two publisher codes of one view: the fault hits the second partition's report.
FAULTED_CODES = ["guest", "pub_seo"]
FAULTED = {"publisher_codes": FAULTED_CODES, "view_types": ["ads"]}
FIRST = "publisher_code=guest, placement=all"
SECOND = "publisher_code=pub_seo, placement=all"


def verdicts(run: TapRun) -> list[dict]:
    return run.records(VERDICTS)


def test_a_clean_run_of_every_vendor_lands_only_passing_verdicts(sandbox):
    run = run_tap(all_vendors(sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    landed = verdicts(run)
    assert landed, "no verdict landed"
    assert {v["verdict"] for v in landed} == {"pass"}
    # CityGrid's totals, and Mintegral's hours of a complete window (see the README).
    assert {v["vendor"] for v in landed} == {"citygrid", "mintegral"}
    streams = {"citygrid_overall", "citygrid_ads", "citygrid_places_that_pay"}
    assert {v["stream"] for v in landed} == {*streams, "mintegral_performance"}
    assert {v["metric"] for v in landed if v["vendor"] == "mintegral"} == {"hours"}
    # no key column is empty: target-duckdb would load '' as NULL into a NOT NULL key
    assert {v["partition_key"] for v in landed if v["vendor"] == "mintegral"} == {"all"}
    assert all(v[k] not in ("", None) for v in landed for k in KEY)
    assert len({tuple(v[k] for k in KEY) for v in landed}) == len(landed)
    assert "WARNING" not in "".join(
        line for line in run.stderr.splitlines() if "do not add up" in line
    )
    schema = run.schema(VERDICTS)
    assert schema["key_properties"] == KEY


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_clean_citygrid_runs_per_placement_pass_in_both_formats(sandbox, fmt: str):
    config = CASES["citygrid"].config(sandbox)
    config["citygrid"].update(
        {"publisher_codes": ["guest"], "placements": ["placement_1", "placement_2"]}
    )
    config["citygrid"]["format"] = fmt
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    landed = verdicts(run)
    assert {v["partition_key"] for v in landed} == {
        "publisher_code=guest, placement=placement_1",
        "publisher_code=guest, placement=placement_2",
    }
    assert {v["verdict"] for v in landed} == {"pass"}
    # The checked metrics: 5 in overall, 9 in ads (not cpc), 4 in placesThatPay (not rpm).
    per_stream: dict[str, set[str]] = {}
    for v in landed:
        per_stream.setdefault(v["stream"], set()).add(v["metric"])
    assert {s: len(m) for s, m in per_stream.items()} == {
        "citygrid_overall": 5,
        "citygrid_ads": 9,
        "citygrid_places_that_pay": 4,
    }


def faulted_run(sandbox, kind: str, mode: str, state: dict | None = None) -> TapRun:
    config = CASES["citygrid"].config(sandbox, reconcile=mode)
    config["citygrid"].update(FAULTED)
    second = {"view_type": "ads", "publisher_code": "pub_seo"}  # requests go out at once
    sandbox.faults.add(Fault(kind, vendor="citygrid", query=second))
    return run_tap(config, state=state)


#: fault kind -> a metric whose verdict it must turn into a mismatch.
FAULTS = {
    "dropped_day": "revenue",
    "altered_value": "impressions",
    "wrong_total": "impressions",
}


def mismatched(run: TapRun) -> list[dict]:
    return [v for v in verdicts(run) if v["verdict"] == "mismatch"]


@pytest.mark.parametrize("kind", list(FAULTS))
def test_warn_logs_each_mismatch_in_one_line_and_extracts_on(sandbox, kind: str):
    run = faulted_run(sandbox, kind, "warn")
    assert run.returncode == 0, run.stderr[-2000:]
    bad = mismatched(run)
    assert bad, "the fault went unnoticed"
    assert {v["partition_key"] for v in bad} == {SECOND}
    assert FAULTS[kind] in {v["metric"] for v in bad}
    for v in bad:
        assert v["difference"] == pytest.approx(v["stated"] - v["summed"], abs=1e-8)
        assert abs(v["difference"]) > v["tolerance"]
    for verdict in bad:
        line = next(
            line
            for line in run.stderr.splitlines()
            if f"vendor's total {verdict['metric']} " in line and SECOND in line
        )
        assert "WARNING" in line
        assert "stream citygrid_ads" in line
        assert f"window {verdict['window_start']}..{verdict['window_end']}" in line
        assert f"stated {verdict['stated']:g}" in line
        assert f"rows give {verdict['summed']:g}" in line
    assert {v["verdict"] for v in verdicts(run) if v["partition_key"] == FIRST} == {"pass"}
    # warn: the faulted partition's rows are still written and its bookmark moves
    records = run.records("citygrid_ads")
    assert {r["publisher_code"] for r in records} == {"guest", "pub_seo"}
    assert len(run.bookmarks("citygrid_ads")) == 2


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fail_stops_before_the_windows_state_and_the_next_run_extracts_it(sandbox, kind: str):
    clean = run_tap(
        {
            **CASES["citygrid"].config(sandbox),
            "citygrid": {**CASES["citygrid"].config(sandbox)["citygrid"], **FAULTED},
        }
    )
    failed = faulted_run(sandbox, kind, "fail")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "reconcile is fail" in failed.last_log_line
    assert "stream citygrid_ads | publisher_code=pub_seo" in failed.last_log_line
    # The verdicts say why; the faulted window's rows are not written, nor its STATE.
    assert FAULTS[kind] in {v["metric"] for v in mismatched(failed)}
    records = failed.records("citygrid_ads")
    assert {r["publisher_code"] for r in records} == {"guest"}
    bookmarks = failed.bookmarks("citygrid_ads")
    guest, pub_seo = (f'{{"placement": "all", "publisher_code": "{c}"}}' for c in FAULTED_CODES)
    assert bookmarks == {guest: CASES["citygrid"].end, pub_seo: None}
    # What was written before the failure is whole and correct: the first partition's
    # rows are the clean run's, each covered by the last STATE.
    expected = [r for r in clean.records("citygrid_ads") if r["publisher_code"] == "guest"]
    assert records == expected
    assert all(done(r, "citygrid_ads", failed.state) for r in records)
    # The next run (no fault) extracts the failed window, and everything passes.
    retried = run_tap(
        {
            **CASES["citygrid"].config(sandbox, reconcile="fail"),
            "citygrid": {**CASES["citygrid"].config(sandbox)["citygrid"], **FAULTED},
        },
        state=failed.state,
    )
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert {v["verdict"] for v in verdicts(retried)} == {"pass"}
    pub_seo = [r for r in retried.records("citygrid_ads") if r["publisher_code"] == "pub_seo"]
    assert pub_seo == [r for r in clean.records("citygrid_ads") if r["publisher_code"] == "pub_seo"]
    assert retried.bookmarks("citygrid_ads") == clean.bookmarks("citygrid_ads")


def test_an_invalid_reconcile_setting_is_one_line(sandbox):
    run = run_tap({**CASES["citygrid"].config(sandbox), "reconcile": "ignore"})
    assert run.returncode == 1
    expected = "Invalid setting 'reconcile': 'ignore' is not one of ['warn', 'fail']"
    assert run.last_log_line.endswith(expected)
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("mode", ["warn", "fail"])
def test_a_deselected_reconciliation_stream_lands_nothing_and_still_checks(
    sandbox, tmp_path, mode: str
):
    from tests.helpers import single_stream_catalog

    config = CASES["citygrid"].config(sandbox, reconcile=mode)
    config["citygrid"].update(FAULTED)
    args = single_stream_catalog(config, ["citygrid_ads"], tmp_path)
    sandbox.faults.add(Fault("wrong_total", vendor="citygrid", query={"view_type": "ads"}))
    run = run_tap(config, args=args)  # (run_tap also checks every counted record is written)
    assert not verdicts(run)
    assert VERDICTS not in {m.get("stream") for m in run.messages}
    if mode == "fail":
        assert run.returncode == 1
        assert "reconcile is fail" in run.last_log_line
    else:
        assert run.returncode == 0, run.stderr[-2000:]
        assert "the rows do not add up to the vendor's total impressions" in run.stderr
        summary = "0 verdict(s) landed in perfreports_reconciliation (17 pass, 1 mismatch"
        assert summary in run.stderr


@pytest.mark.parametrize("mode", ["warn", "fail"])
def test_mintegral_hours_short_of_a_complete_window_are_caught(sandbox, mode: str):
    """A generated report said complete, but with an hour fewer than its days hold."""
    config = CASES["mintegral"].config(sandbox, reconcile=mode)
    clean = run_tap(CASES["mintegral"].config(sandbox))
    sandbox.faults.add(Fault("wrong_total", vendor="mintegral", query={"type": "1"}, times=-1))
    run = run_tap(config)
    bad = mismatched(run)
    days = (
        dt.date.fromisoformat(CASES["mintegral"].end)
        - dt.date.fromisoformat(CASES["mintegral"].start)
    ).days + 1
    assert [(v["metric"], v["stated"], v["summed"]) for v in bad][:1] == [
        ("hours", 24 * min(days, 7) - 1, 24 * min(days, 7))
    ]
    assert "Traceback" not in run.stderr
    if mode == "warn":
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.records("mintegral_performance") == clean.records("mintegral_performance")
        return
    assert run.returncode == 1
    assert "reconcile is fail" in run.last_log_line
    assert "vendor's total hours (stated" in run.last_log_line
    assert not run.records("mintegral_performance")
    assert run.bookmarks("mintegral_performance") == {}
    assert "replication_key_value" not in run.state["bookmarks"]["mintegral_performance"]
    sandbox.faults.clear()
    retried = run_tap(config, state=run.state)
    assert retried.returncode == 0, retried.stderr[-2000:]
    assert {v["verdict"] for v in verdicts(retried)} == {"pass"}
    assert retried.records("mintegral_performance") == clean.records("mintegral_performance")
