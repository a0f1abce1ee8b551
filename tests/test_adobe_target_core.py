"""The Meltano SDK's standard tap tests for the Adobe Target streams, on the embedded sandbox."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_perfreports.tap import TapPerfReports

pytestmark = pytest.mark.unit

TestAdobeTargetStandard = get_tap_test_class(
    tap_class=TapPerfReports,
    config={
        "sandbox": True,
        "start_date": "2026-09-01",
        "end_date": "2026-09-04",
        "adobe_target": {"segments": "all", "metric_types": ["visit", "impression"]},
    },
    suite_config=SuiteConfig(max_records_limit=None),
)
