"""The Meltano SDK's standard tap tests, run against the embedded sandbox."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_perfreports.tap import TapPerfReports

pytestmark = pytest.mark.unit

SANDBOX_CONFIG = {
    "sandbox": True,
    "start_date": "2026-10-01",
    "end_date": "2026-10-03",
    "infinity": {},
}

TestTapPerfReports = get_tap_test_class(
    tap_class=TapPerfReports,
    config=SANDBOX_CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
)
