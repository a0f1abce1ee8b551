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

import typing as t
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter

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
    #: What the verdict's `rule` column says, when not the rule's own description.
    label: str = ""

    @cached_property
    def description(self) -> str:
        """What the stated value is checked against, for the verdict's `rule` column."""
        if self.label:
            return self.label
        if self.kind == SUM:
            return f"sum of {self.metric}"
        scale = f" * {self.scale:g}" if self.scale != 1 else ""
        return f"sum of {self.numerator} / sum of {self.denominator}{scale}"

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The row columns it sums."""
        return (self.metric,) if self.kind == SUM else (self.numerator, self.denominator)

    def derive(
        self, rows: Sequence[Mapping[str, t.Any]], totals: Mapping[str, float] | None = None
    ) -> tuple[float, float]:
        """The value the rows give, and how far from it the stated value may be.
        `totals`: the rows' column sums, when already computed (`column_totals`)."""
        totals = totals if totals is not None else column_totals(rows, self.columns)
        half, numerator_half = self._half_units
        if self.kind == SUM:
            return totals[self.metric], half * (len(rows) + 1)
        numerator = totals[self.numerator]
        denominator = totals[self.denominator]
        if not denominator:
            return 0.0, half
        slack = numerator_half * len(rows) * abs(self.scale / denominator)
        return numerator / denominator * self.scale, half + slack

    @cached_property
    def _half_units(self) -> tuple[float, float]:
        return half_unit(self.decimals), half_unit(self.numerator_decimals)


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


class Verdict(t.NamedTuple):
    """One rule's outcome for one report."""

    metric: str
    rule: str
    #: What the vendor says, as it says it (None: it said nothing).
    stated: float | None
    #: What the rows give: their sum, or the ratio of their sums.
    summed: float
    tolerance: float
    verdict: str
    #: stated - summed, rounded away from binary noise (None: nothing stated).
    difference: float | None = None

    @property
    def passed(self) -> bool:
        return self.verdict != MISMATCH


def reconcile(
    stated: Mapping[str, t.Any], rows: Sequence[Mapping[str, t.Any]], rules: Iterable[Rule]
) -> list[Verdict]:
    """One verdict per rule: does `stated[rule.metric]` follow from `rows`?"""
    rules = rules if isinstance(rules, tuple) else tuple(rules)
    totals = column_totals(rows, _columns_of(rules))
    verdicts = []
    for rule in rules:
        derived, tolerance = rule.derive(rows, totals)
        value = stated.get(rule.metric)
        difference = None
        if value is None:
            verdict = UNSTATED
        else:
            difference = value - derived
            slack = tolerance + _FLOAT_SLACK * max(1.0, abs(value), abs(derived))
            verdict = PASS if abs(difference) <= slack else MISMATCH
            difference = round(difference, 9)
        verdicts.append(
            Verdict(
                rule.metric,
                rule.description,
                value,
                round(derived, 9),
                round(tolerance, 9),
                verdict,
                difference,
            )
        )
    return verdicts


#: The columns each set of rules sums, by the rules' identity (a vendor's rules are one
#: tuple, made once): id -> (the rules, kept alive, and their columns).
_COLUMNS: dict[int, tuple[tuple[Rule, ...], tuple[str, ...]]] = {}


def _columns_of(rules: tuple[Rule, ...]) -> tuple[str, ...]:
    known = _COLUMNS.get(id(rules))
    if known is not None and known[0] is rules:
        return known[1]
    columns = tuple(dict.fromkeys(column for rule in rules for column in rule.columns))
    if len(_COLUMNS) < 256:  # a few sets in a run; past that, computed each time
        _COLUMNS[id(rules)] = (rules, columns)
    return columns


def half_unit(decimals: int) -> float:
    """Half a unit of the last place: the most rounding to `decimals` places moves a value.
    0 for whole numbers (counts are exact)."""
    return 0.5 * 10.0**-decimals if decimals > 0 else 0.0


def column_totals(rows: Sequence[Mapping[str, t.Any]], columns: Iterable[str]) -> dict[str, float]:
    """Each column's sum over the rows (a missing or null value adds nothing). Plain
    floating-point addition: its error, far below a cent, is in every rule's slack."""
    names = columns if isinstance(columns, tuple) else tuple(columns)
    if not rows or not names:
        return dict.fromkeys(names, 0)
    try:  # one C-level pass: each row's values as a tuple, transposed into columns
        per_row = map(itemgetter(*names, names[0]), rows)  # (a tuple even for one name)
        values: list[t.Sequence[t.Any]] = list(zip(*per_row, strict=True))
    except KeyError:  # a row without some column
        values = [[row.get(name) for row in rows] for name in names]
    totals = {}
    for name, column in zip(names, values, strict=False):
        try:
            totals[name] = sum(column)
        except TypeError:  # a null among the values
            totals[name] = sum(filter(None, column))
    return totals
