"""Reconciliation rules, without HTTP: the CityGrid doc's own examples reconcile exactly,
and a dropped day, an altered value or a wrong total in them is caught."""

from __future__ import annotations

import io

import pytest

from tap_perfreports.reconcile import (
    MISMATCH,
    PASS,
    UNSTATED,
    ratio_rule,
    reconcile,
    sum_rule,
)
from tap_perfreports.vendors.citygrid import VIEW_TYPES, Report, parse_csv, parse_json
from tests.helpers import fixture_bytes

FILE_NAMES = {"overall": "overall", "ads": "ads", "placesThatPay": "places_that_pay"}

#: Each example's totals, as the doc prints them (JSON `total_*`, CSV `Total:` line).
DOC_TOTALS = {
    "overall": {
        "billable_connections": 99,
        "revenue": 212.25,
        "cpc": 2.14,
        "ltc": 33,
        "ltc_revenue": 69.0,
    },
    "ads": {
        "impressions": 56,
        "bidded_impressions": 20,
        "billable_clicks": 10,
        "revenue": 21.5,
        "rpm": 1075.0,
        "ctr": 50.0,
        "cpc": 50.0,
        "coverage": 35.71,
        "ltc": 2,
        "ltc_revenue": 2.25,
    },
    "placesThatPay": {
        "impressions": 58,
        "revenue": 110.75,
        "rpm": 615.28,
        "ltc": 23,
        "ltc_revenue": 39.75,
    },
}
#: What the rows of each example give for each checked metric: sums, and rates as the
#: ratio of the summed counts (before the vendor's rounding to 2 decimals).
DOC_DERIVED = {
    "overall": {
        "billable_connections": 8 + 6 + 36 + 20 + 7 + 16 + 6,
        "revenue": 11.5 + 4.5 + 45.0 + 71.0 + 32.0 + 4.0 + 44.25,
        "cpc": 212.25 / 99,
        "ltc": 2 + 7 + 2 + 7 + 1 + 8 + 6,
        "ltc_revenue": 3.25 + 6.0 + 3.0 + 25.0 + 5.0 + 2.0 + 24.75,
    },
    "ads": {
        "impressions": 10 + 2 + 12 + 7 + 0 + 10 + 15,
        "bidded_impressions": 5 + 0 + 7 + 0 + 0 + 5 + 3,
        "billable_clicks": 2 + 0 + 6 + 0 + 0 + 1 + 1,
        "revenue": 3.5 + 7.5 + 0.5 + 10.0,
        "rpm": 21.5 / 20 * 1000,
        "ctr": 10 / 20 * 100,
        "coverage": 20 / 56 * 100,
        "ltc": 1 + 1,
        "ltc_revenue": 1.75 + 0.5,
    },
    "placesThatPay": {
        "impressions": 6 + 1 + 20 + 16 + 2 + 10 + 3,
        "revenue": 8.0 + 2.0 + 27.5 + 61.0 + 7.0 + 1.0 + 4.25,
        "ltc": 1 + 5 + 2 + 5 + 0 + 5 + 5,
        "ltc_revenue": 1.5 + 5.0 + 3.0 + 20.0 + 0.0 + 0.5 + 9.75,
    },
}
SUMMED = {"billable_connections", "impressions", "bidded_impressions", "billable_clicks"}
SUMMED |= {"revenue", "ltc", "ltc_revenue"}


def doc_report(view: str, fmt: str) -> Report:
    """A doc example, parsed as the stream parses it (CSV totals from its Total line)."""
    body = io.BytesIO(fixture_bytes("citygrid", f"{FILE_NAMES[view]}.{fmt}"))
    if fmt == "json":
        return parse_json(body, VIEW_TYPES[view])
    report = Report([])
    report.rows = list(parse_csv(body, VIEW_TYPES[view], report.totals))
    return report


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("view", list(FILE_NAMES))
def test_the_doc_examples_reconcile_exactly(view: str, fmt: str):
    report = doc_report(view, fmt)
    assert report.totals == DOC_TOTALS[view]
    verdicts = {v.metric: v for v in reconcile(report.totals, report.rows, VIEW_TYPES[view].rules)}
    assert set(verdicts) == set(DOC_DERIVED[view])
    for metric, verdict in verdicts.items():
        assert verdict.verdict == PASS, verdict
        assert verdict.stated == DOC_TOTALS[view][metric]
        assert verdict.summed == pytest.approx(DOC_DERIVED[view][metric], abs=1e-9)
        if metric in SUMMED:  # sums hold to the cent, without any tolerance used
            assert verdict.difference == 0, verdict
        else:  # rates: the documented ratio, rounded to 2 decimals as printed
            assert round(verdict.summed, 2) == verdict.stated, verdict


def test_the_rates_left_unchecked_do_not_follow_from_the_doc_examples():
    """The ads example's total_cpc (50.0) is no ratio of its counts, and the
    placesThatPay rows' rpm follow from no column: checking either would fail the doc."""
    ads = DOC_TOTALS["ads"]
    assert ads["cpc"] != round(ads["revenue"] / ads["billable_clicks"], 2)  # 2.15
    first_place_row = doc_report("placesThatPay", "json").rows[0]  # 8.0 per 6, rpm 571.43
    assert first_place_row["rpm"] != round(first_place_row["revenue"] / 6 * 1000, 2)
    checked = {view: {rule.metric for rule in VIEW_TYPES[view].rules} for view in FILE_NAMES}
    assert "cpc" not in checked["ads"]
    assert "rpm" not in checked["placesThatPay"]
    assert {"cpc"} < checked["overall"]
    assert {"rpm", "ctr", "coverage"} < checked["ads"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_empty_doc_example_reconciles(fmt: str):
    report = doc_report_named("empty", fmt)
    verdicts = reconcile(report.totals, report.rows, VIEW_TYPES["overall"].rules)
    assert [v.verdict for v in verdicts] == [PASS] * 5
    assert {v.metric: v.summed for v in verdicts}["cpc"] == 0.0  # no connections: 0.0


def doc_report_named(name: str, fmt: str) -> Report:
    body = io.BytesIO(fixture_bytes("citygrid", f"{name}.{fmt}"))
    if fmt == "json":
        return parse_json(body, VIEW_TYPES["overall"])
    report = Report([])
    report.rows = list(parse_csv(body, VIEW_TYPES["overall"], report.totals))
    return report


def mismatches(view: str, totals: dict, rows: list[dict]) -> dict[str, tuple]:
    verdicts = reconcile(totals, rows, VIEW_TYPES[view].rules)
    return {v.metric: (v.stated, v.summed) for v in verdicts if v.verdict == MISMATCH}


def test_a_dropped_day_in_the_doc_example_is_caught():
    report = doc_report("overall", "json")
    without_nov_18 = [row for row in report.rows if row["date"] != "2011-11-18"]
    found = mismatches("overall", report.totals, without_nov_18)
    assert found["billable_connections"] == (99, 79)
    assert found["revenue"] == (212.25, 141.25)
    assert found["ltc"] == (33, 26)
    assert found["ltc_revenue"] == (69.0, 44.0)
    assert set(found) == {"billable_connections", "revenue", "cpc", "ltc", "ltc_revenue"}


def test_an_altered_value_in_the_doc_example_is_caught():
    report = doc_report("ads", "csv")
    rows = [dict(row) for row in report.rows]
    rows[2]["billable_clicks"] = 7  # 6 on 2011-11-17
    found = mismatches("ads", report.totals, rows)
    assert found["billable_clicks"] == (10, 11)
    assert set(found) == {"billable_clicks", "ctr"}  # ctr is 11 / 20 * 100 now


def test_revenue_changed_beyond_the_rounding_of_its_rows_is_caught():
    """Seven rows rounded to the cent may sum 4 cents from the stated total (3.5 half
    cents, plus the total's own): a change of a quarter is caught, one of a cent is not."""
    report = doc_report("placesThatPay", "json")
    rows = [dict(row) for row in report.rows]
    rows[0]["revenue"] = 8.25
    assert set(mismatches("placesThatPay", report.totals, rows)) == {"revenue"}
    rows[0]["revenue"] = 8.01
    assert mismatches("placesThatPay", report.totals, rows) == {}


def test_a_wrong_total_in_the_doc_example_is_caught():
    report = doc_report("ads", "json")
    assert mismatches("ads", {**report.totals, "coverage": 35.72}, report.rows) == {
        "coverage": (35.72, pytest.approx(35.714285714))
    }
    assert mismatches("ads", {**report.totals, "impressions": 57}, report.rows) == {
        "impressions": (57, 56)
    }


def test_counts_are_exact_and_money_allows_the_vendors_rounding_of_each_row():
    rows = [{"n": 1, "usd": 0.33}, {"n": 2, "usd": 0.33}, {"n": 3, "usd": 0.33}]
    # three rows of 1/3 dollar: the true total 1.00 is stated, the rounded rows give 0.99
    money = reconcile({"usd": 1.0}, rows, [sum_rule("usd", decimals=2)])[0]
    assert (money.verdict, money.tolerance) == (PASS, pytest.approx(0.02))
    assert reconcile({"usd": 1.03}, rows, [sum_rule("usd", decimals=2)])[0].verdict == MISMATCH
    assert reconcile({"n": 6}, rows, [sum_rule("n")])[0].verdict == PASS
    assert reconcile({"n": 7}, rows, [sum_rule("n")])[0].verdict == MISMATCH


def test_a_ratio_allows_half_a_cent_and_its_numerators_rounding():
    rows = [{"clicks": 1, "shown": 3}]
    ctr = ratio_rule("ctr", "clicks", "shown", scale=100)
    assert reconcile({"ctr": 33.33}, rows, [ctr])[0].verdict == PASS
    assert reconcile({"ctr": 33.34}, rows, [ctr])[0].verdict == MISMATCH
    rpm = ratio_rule("rpm", "usd", "shown", scale=1000, numerator_decimals=2)
    rounded = [{"usd": 0.33, "shown": 3}]  # truly 1/3 dollar: rpm 111.11, the row gives 110
    assert reconcile({"rpm": 111.11}, rounded, [rpm])[0].verdict == PASS
    assert reconcile({"rpm": 112.0}, rounded, [rpm])[0].verdict == MISMATCH


def test_a_total_the_vendor_does_not_state_is_no_mismatch():
    verdict = reconcile({}, [{"n": 1}], [sum_rule("n")])[0]
    assert (verdict.verdict, verdict.stated, verdict.difference) == (UNSTATED, None, None)
    assert verdict.passed


def test_a_null_value_adds_nothing():
    rows = [{"n": 1, "usd": None}, {"n": None, "usd": 0.25}]
    verdicts = reconcile({"n": 1, "usd": 0.25}, rows, [sum_rule("n"), sum_rule("usd", 2)])
    assert [(v.summed, v.verdict) for v in verdicts] == [(1, PASS), (0.25, PASS)]
    missing = reconcile({"n": 2}, [{"n": 2}, {}], [sum_rule("n")])[0]
    assert (missing.summed, missing.verdict) == (2, PASS)
