"""The settings rules every vendor shares (`settings.validate_vendor`), without HTTP."""

from __future__ import annotations

import pytest

from tap_perfreports.errors import ConfigError
from tap_perfreports.settings import first_repeated, validate_vendor
from tap_perfreports.vendors import VENDORS
from tap_perfreports.vendors.plumvoice import VENDOR as PLUMVOICE

pytestmark = pytest.mark.unit

LOGIN = {"username": "u", "password": "p"}


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda vendor: vendor.key)
def test_each_login_setting_is_required_and_named(vendor):
    full = dict.fromkeys(vendor.login, "x")
    for missing in vendor.login:
        with pytest.raises(ConfigError, match="required") as raised:
            validate_vendor(vendor, {**full, missing: ""})
        assert raised.value.setting == f"{vendor.key}.{missing}"
    assert set(vendor.login) <= {p.name for p in vendor.properties}


@pytest.mark.parametrize(
    ("settings", "setting", "rule"),
    [
        (
            {"phones": ["+15551234", "+15551234"]},
            "plumvoice.phones",
            "'\\+15551234' is listed twice",
        ),
        ({"phones": []}, "plumvoice.phones", "non-empty"),
    ],
)
def test_lists_name_each_value_once(settings, setting, rule):
    with pytest.raises(ConfigError, match=rule) as raised:
        validate_vendor(PLUMVOICE, {**LOGIN, **settings})
    assert raised.value.setting == setting


def test_a_repeated_value_is_shown_as_the_user_wrote_it():
    assert first_repeated(["a", "b", "a"]) == "'a'"
    assert first_repeated([7, 11, 7]) == "7"
    assert first_repeated([{"name": "x"}, {"name": "y"}, {"name": "x"}]) == "name 'x'"
    assert first_repeated(["7", 7]) is None  # a string and a number are different values
    assert first_repeated([]) is None
