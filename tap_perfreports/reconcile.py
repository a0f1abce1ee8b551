"""Reconciliation: do a report's rows add up to the totals the vendor states for it?

Pure functions, no HTTP: a vendor module names its rules (one per stated metric) and
hands the stated totals and the report's rows to `reconcile`, which returns one `Verdict`
per rule. What a run does with the verdicts (log, land, fail) is `streams.py`'s.

Two kinds of rule:

- **sum**: the stated total is the sum of the rows' values. The vendor rounds each row's
  value and the total to `decimals` places, each by at most half a unit of the last
  place, so the rows' sum may differ from the stated total by up to
  `0.5 * 10**-decimals * (rows + 1)`; with `decimals=0` (counts) it must be exact.
- **ratio**: the stated rate is `sum(numerator) / sum(denominator) * scale`, rounded to
  `decimals` places (0 when the denominator sums to 0). Tolerance: half a unit of the
  last place, plus how far the numerator's own rounding (a sum rule's tolerance) can
  move the ratio.

Every tolerance also allows a relative 1e-9 for binary floating point.
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

SUM = "sum"
RATIO = "ratio"

PASS = "pass"  # noqa: S105 - a verdict, not a password
MISMATCH = "mismatch"
#: The vendor stated no value for a metric its documentation lists: nothing to compare.
UNSTATED = "unstated"

_FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class Rule:
    """How one stated metric follows from the rows."""

    metric: str
    kind: str = SUM
    #: ratio: the summed column divided ...
    numerator: str = ""
    #: ... by this summed column, times `scale`.
    denominator: str = ""
    scale: float = 1.0
    #: Places the vendor rounds the stated value (and, for a sum, each row's) to.
    decimals: int = 0
    #: ratio: places the vendor rounds each row's numerator to (0: exact counts).
    numerator_decimals: int = 0

    @property
    def description(self) -> str:
        """What the stated value is checked against, for the verdict's `rule` column."""
        if self.kind == SUM:
            return f"sum of {self.metric}"
        scale = f" * {self.scale:g}" if self.scale != 1 else ""
        return f"sum of {self.numerator} / sum of {self.denominator}{scale}"

    def derive(self, rows: Sequence[Mapping[str, t.Any]]) -> tuple[float, float]:
        """The value the rows give, and how far from it the stated value may be."""
        if self.kind == SUM:
            return _total(rows, self.metric), half_unit(self.decimals) * (len(rows) + 1)
        numerator = _total(rows, self.numerator)
        denominator = _total(rows, self.denominator)
        if not denominator:
            return 0.0, half_unit(self.decimals)
        numerator_slack = half_unit(self.numerator_decimals) * len(rows)
        slack = numerator_slack * abs(self.scale / denominator)
        return numerator / denominator * self.scale, half_unit(self.decimals) + slack


def sum_rule(metric: str, decimals: int = 0) -> Rule:
    """The stated total is the sum of the rows' `metric` (money: `decimals=2`)."""
    return Rule(metric, SUM, decimals=decimals)


def ratio_rule(
    metric: str,
    numerator: str,
    denominator: str,
    *,
    scale: float = 1.0,
    decimals: int = 2,
    numerator_decimals: int = 0,
) -> Rule:
    """The stated `metric` is `sum(numerator) / sum(denominator) * scale`, rounded to
    `decimals` places; each row's numerator is rounded to `numerator_decimals`."""
    return Rule(metric, RATIO, numerator, denominator, scale, decimals, numerator_decimals)


@dataclass(frozen=True)
class Verdict:
    """One rule's outcome for one report."""

    metric: str
    rule: str
    #: What the vendor says, as it says it (None: it said nothing).
    stated: float | None
    #: What the rows give: their sum, or the ratio of their sums.
    summed: float
    tolerance: float
    verdict: str

    @property
    def difference(self) -> float | None:
        """stated - summed, rounded away from binary noise."""
        if self.stated is None:
            return None
        return round(self.stated - self.summed, 9)

    @property
    def passed(self) -> bool:
        return self.verdict != MISMATCH


def reconcile(
    stated: Mapping[str, t.Any], rows: Sequence[Mapping[str, t.Any]], rules: Iterable[Rule]
) -> list[Verdict]:
    """One verdict per rule: does `stated[rule.metric]` follow from `rows`?"""
    verdicts = []
    for rule in rules:
        derived, tolerance = rule.derive(rows)
        value = stated.get(rule.metric)
        if value is None:
            verdict = UNSTATED
        else:
            slack = tolerance + _FLOAT_SLACK * max(1.0, abs(value), abs(derived))
            verdict = PASS if abs(value - derived) <= slack else MISMATCH
        verdicts.append(
            Verdict(
                metric=rule.metric,
                rule=rule.description,
                stated=value,
                summed=round(derived, 9),
                tolerance=round(tolerance, 9),
                verdict=verdict,
            )
        )
    return verdicts


def half_unit(decimals: int) -> float:
    """Half a unit of the last place: the most rounding to `decimals` places moves a value.
    0 for whole numbers (counts are exact)."""
    return 0.5 * 10.0**-decimals if decimals > 0 else 0.0


def _total(rows: Sequence[Mapping[str, t.Any]], column: str) -> float:
    return math.fsum(float(row[column]) for row in rows if row.get(column) is not None)
