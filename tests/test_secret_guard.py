"""The guards that scan test output for credentials must themselves catch a leak."""

from __future__ import annotations

import pytest

from tap_perfreports.sandbox import infinity
from tests.helpers import assert_no_secret, known_secrets

pytestmark = pytest.mark.unit


def test_known_secrets_include_sandbox_logins_and_configured_ones():
    secrets = known_secrets({"infinity": {"password": "Distinctive-Pa55"}})
    assert infinity.PASSWORD in secrets
    assert "Distinctive-Pa55" in secrets


@pytest.mark.parametrize("leak", ["x Distinctive-Pa55 y", "p=Distinctive%2BPa55"])
def test_a_leak_in_any_encoding_is_caught_without_being_printed(leak):
    secret = "Distinctive-Pa55" if "%" not in leak else "Distinctive+Pa55"
    with pytest.raises(AssertionError) as caught:
        assert_no_secret(leak, {secret})
    assert secret not in str(caught.value)


def test_clean_text_passes():
    assert_no_secret("nothing to see", {"Distinctive-Pa55"})
