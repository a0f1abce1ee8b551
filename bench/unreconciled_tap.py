"""The tap as shipped, without reconciliation: `ReportStream.reconcile_window` checks and
lands nothing. The comparison point of `bench/reconcile_cost.py` (reports are still read
whole before their rows are written, as the shipped CityGrid stream does)."""

from __future__ import annotations

import typing as t

from tap_perfreports.streams import ReportStream
from tap_perfreports.tap import main


def _no_reconciliation(self: ReportStream, *args: t.Any, **kwargs: t.Any) -> list:
    return []


ReportStream.reconcile_window = _no_reconciliation  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
