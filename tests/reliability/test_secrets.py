"""Credentials never reach any output: debug logging of every library, retries and give-ups,
and JSON-schema errors about the secret settings themselves."""

from __future__ import annotations

import re

import pytest

from tap_perfreports.sandbox.faults import Fault
from tests import reliability_table
from tests.e2e.conftest import meltano, meltano_project  # noqa: F401  (fixtures)
from tests.helpers import run_tap
from tests.reliability.scenarios import (
    CREDENTIALS,
    SCENARIOS,
    Scenario,
    captured,
    distinctive_credentials,
    prepare_emulators,
    secret_hits,
)

pytestmark = pytest.mark.reliability


@pytest.fixture
def server(sandbox):
    with distinctive_credentials():
        yield sandbox


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_debug_logging_of_retries_and_give_ups_shows_no_credential(server, scenario: Scenario):
    """At LOGLEVEL=debug urllib3 logs every request line (query strings included) and
    the retries log each failure; a vendor that keeps failing then gives up."""
    prepare_emulators(server)
    server.faults.add(Fault("status", scenario.vendor, status=503, times=2))
    server.faults.add(Fault("truncate", scenario.vendor, query=scenario.body_query, after_bytes=50))
    config = scenario.config(server.url(scenario.vendor))
    env = {**scenario.environ(), "LOGLEVEL": "debug"}
    retried = run_tap(config, env=env)
    server.faults.add(Fault("status", scenario.vendor, status=500, times=-1))
    gave_up = run_tap(config, env=env)

    assert retried.returncode == 0, retried.stderr[-3000:]
    assert re.search(r"HTTP 503.*retry 1 of 7", retried.stderr)
    assert "urllib3.connectionpool" in retried.stderr, "debug logging is off"
    assert gave_up.returncode == 1
    assert "gave up after 8 tries" in gave_up.last_log_line
    hits = secret_hits(captured(retried) + captured(gave_up), config)
    reliability_table.record(
        "secrets: LOGLEVEL=debug", faults=4, runs=2, secret_hits=hits, unhandled=0
    )
    assert hits == 0


def test_the_password_in_adobe_query_strings_is_masked_in_debug_logs(server):
    """Adobe sends its password as a query parameter: the URL urllib3 logs must mask it."""
    scenario = next(s for s in SCENARIOS if s.vendor == "adobe_target")
    config = scenario.config(server.url("adobe_target"))
    run = run_tap(config, env={**scenario.environ(), "LOGLEVEL": "debug"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(r'"GET /adobe_target\S*password=\*\*\*', run.stderr), run.stderr[:3000]
    assert secret_hits(captured(run), config) == 0


SECRET = CREDENTIALS["infinity"]["password"]

#: (settings, the setting the error must name): each echoes a credential if handled naively.
SCHEMA_ERRORS = [
    ({"infinity": {"password": [SECRET]}}, "infinity.password"),
    ({"infinity": {"password": {"value": SECRET}}}, "infinity.password"),
    ({"infinity": {"password": SECRET, "page_size": SECRET}}, "infinity.page_size"),
    ({"infinity": {"password": SECRET, "igrps": [SECRET]}}, "infinity.igrps"),
    ({"infinity": {"password": SECRET}, "start_date": SECRET}, "start_date"),
    ({"adobe_target": {"password": 98765432101}}, "adobe_target.password"),
    ({"mintegral": {"api_key": [CREDENTIALS["mintegral"]["api_key"]]}}, "mintegral.api_key"),
    ({"plumvoice": {"password": CREDENTIALS["plumvoice"]["password"], "pasword": 1}}, "plumvoice"),
]


@pytest.mark.parametrize(("settings", "setting"), SCHEMA_ERRORS)
def test_validation_errors_about_secret_fields_do_not_echo_them(server, settings, setting):
    config = {"sandbox": True, **settings}
    run = run_tap(config)
    assert run.returncode == 1
    assert f"Invalid setting '{setting}" in run.last_log_line, run.last_log_line
    assert server.ledger.requests == []
    extra = {"98765432101"}
    hits = secret_hits(captured(run), config) + sum(s in captured(run) for s in extra)
    reliability_table.record("secrets: invalid settings", faults=1, runs=1, secret_hits=hits)
    assert hits == 0


@pytest.mark.e2e
def test_meltano_debug_output_of_a_failing_vendor_shows_no_credential(server, meltano):  # noqa: F811
    """Through `meltano --log-level=debug run`, with the tap at LOGLEVEL=debug: Meltano's
    own debug log (plugin invocation, its copy of the tap's stderr), the retries and the
    give-up of a vendor that keeps failing hold no credential, plain or URL-encoded."""
    scenario = next(s for s in SCENARIOS if s.vendor == "adobe_target")
    server.faults.add(Fault("status", "adobe_target", status=503, times=2))
    server.faults.add(Fault("status", "adobe_target", status=500, times=-1))
    env = {
        "LOGLEVEL": "debug",
        "TAP_PERFREPORTS_START_DATE": scenario.start,
        "TAP_PERFREPORTS_END_DATE": scenario.end,
        "TAP_PERFREPORTS_ADOBE_TARGET_API_URL": server.url("adobe_target"),
        "TAP_PERFREPORTS_ADOBE_TARGET_PASSWORD": CREDENTIALS["adobe_target"]["password"],
        "TAP_PERFREPORTS_ADOBE_TARGET_CAMPAIGN_IDS": "[7]",
    }
    run = meltano.run(
        "--log-level=debug", "run", "tap-perfreports-adobe-target", "target-duckdb", env=env
    )
    assert run.returncode != 0, run.output[-3000:]
    assert "gave up after 8 tries" in run.output, run.output[-3000:]
    assert "retry 1 of 7" in run.output, "the retries were not logged"
    # urllib3's debug lines (Meltano drops logger names): the URL, with Adobe's password masked
    assert "Starting new HTTP connection" in run.output, "the tap's debug logging is off"
    assert "&password=***&" in run.output, run.output[-3000:]
    hits = secret_hits(run.output, scenario.config(""))
    unhandled = "Traceback" in run.output
    reliability_table.record(
        "secrets: meltano run --log-level=debug",
        faults=3,
        runs=1,
        secret_hits=hits,
        unhandled=int(unhandled),
    )
    assert hits == 0
    assert not unhandled, run.output[-3000:]
