"""The Meltano SDK's standard tap tests for the Plum Voice stream, on the embedded sandbox."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_perfreports.tap import TapPerfReports

pytestmark = pytest.mark.unit

TestPlumVoiceStandard = get_tap_test_class(
    tap_class=TapPerfReports,
    config={
        "sandbox": True,
        "start_date": "2026-09-01",
        "end_date": "2026-10-31",
        "plumvoice": {"phones": ["ALL", "6175550100"], "period": "week"},
    },
    suite_config=SuiteConfig(max_records_limit=None),
)
