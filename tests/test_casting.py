"""Typed parsing: the one place where vendor text becomes schema types."""

from __future__ import annotations

import pytest

from tap_perfreports.casting import (
    cast_for,
    snake_case,
    to_date,
    to_datetime,
    to_int,
    to_number,
)
from tap_perfreports.errors import ParseError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("vendor", "column"),
    [
        ("triggerDatetime", "trigger_datetime"),
        ("sumOfSquares", "sum_of_squares"),
        ("Offer Id", "offer_id"),
        ("Endcard ID", "endcard_id"),
        ("CTR", "ctr"),
        ("Revenue(USD)", "revenue_usd"),
        ("js_errors_per_call", "js_errors_per_call"),
        ("srcPhoneNumber", "src_phone_number"),
    ],
)
def test_snake_case(vendor, column):
    assert snake_case(vendor) == column


def test_counts_accept_the_vendors_float_text_but_not_fractions():
    assert to_int("476.0") == 476
    assert to_int(7) == 7
    assert to_int("") is None
    with pytest.raises(ParseError):
        to_int("476.5")
    with pytest.raises(ParseError):
        to_int("abc")
    with pytest.raises(ParseError):
        to_int(True)


def test_numbers_are_finite_floats():
    assert to_number("121.13") == 121.13
    assert to_number(0) == 0.0
    for bad in ("nan", "inf", "x", [1]):
        with pytest.raises(ParseError):
            to_number(bad)


def test_dates_and_date_times():
    assert to_date("20220418") == "2022-04-18"
    assert to_date("2011-11-15") == "2011-11-15"
    assert to_datetime(1517979600) == "2018-02-07T05:00:00+00:00"
    assert to_datetime("2014-01-01 00:00:00") == "2014-01-01T00:00:00+00:00"
    for bad in ("2022-13-01", "Total: "):
        with pytest.raises(ParseError):
            to_date(bad)


def test_cast_is_chosen_from_the_schema():
    assert cast_for({"type": ["integer", "null"]})("3.0") == 3
    assert cast_for({"type": ["string"], "format": "date"})("20240101") == "2024-01-01"
    assert cast_for({"type": ["number"]})("1.5") == 1.5
    assert cast_for({"type": ["string", "null"]})(12) == "12"
