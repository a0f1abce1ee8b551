"""Reconciliation through `meltano run` into PostgreSQL: a report whose stated totals
disagree with its rows lands a mismatch verdict in `perfreports_reconciliation`, in
`warn` mode (the run succeeds and its rows land) and in `fail` mode (the run fails, the
faulted window's rows do not land, the verdicts do)."""

from __future__ import annotations

import json

import pytest

from tap_perfreports.sandbox.faults import Fault
from tests.e2e.conftest import Meltano, Postgres
from tests.vendor_cases import CASES

pytestmark = pytest.mark.e2e

CODES = ["guest", "pub_seo"]
FAULTED = "publisher_code=pub_seo, placement=all"
CLEAN = "publisher_code=guest, placement=all"


@pytest.mark.parametrize("kind", ["wrong_total", "dropped_day"])
@pytest.mark.parametrize("mode", ["warn", "fail"])
def test_a_report_that_does_not_add_up_lands_its_verdict(
    sandbox, postgres: Postgres, meltano: Meltano, mode: str, kind: str
):
    case = CASES["citygrid"]
    sandbox.faults.add(
        Fault(kind, vendor="citygrid", query={"view_type": "ads", "publisher_code": "pub_seo"})
    )
    env = {
        "TAP_PERFREPORTS_START_DATE": case.start,
        "TAP_PERFREPORTS_END_DATE": case.end,
        "TAP_PERFREPORTS_RECONCILE": mode,
        "TAP_PERFREPORTS_CITYGRID_API_URL": sandbox.url("citygrid"),
        "TAP_PERFREPORTS_CITYGRID_PUBLISHER_CODES": json.dumps(CODES),
        "TAP_PERFREPORTS_CITYGRID_VIEW_TYPES": json.dumps(["ads"]),
    }
    run = meltano.run("run", "tap-perfreports-citygrid", "target-postgres", env=env)
    if mode == "warn":
        assert run.returncode == 0, run.output[-3000:]
    else:
        assert run.returncode != 0
        assert "reconcile is fail" in run.output
        assert "Traceback" not in run.output

    schema = meltano.schema
    verdicts = postgres.query(
        f"select partition_key, metric, verdict from {schema}.perfreports_reconciliation"  # noqa: S608
    )
    mismatched = {(key, metric) for key, metric, verdict in verdicts if verdict == "mismatch"}
    assert mismatched, "the mismatch verdict did not land"
    assert {key for key, _ in mismatched} == {FAULTED}
    assert {verdict for key, _, verdict in verdicts if key == CLEAN} == {"pass"}
    landed_codes = {
        code
        for (code,) in postgres.query(f"select publisher_code from {schema}.citygrid_ads")  # noqa: S608
    }
    # warn extracts on; fail writes nothing of the faulted window (nor its STATE)
    assert landed_codes == (set(CODES) if mode == "warn" else {"guest"})
