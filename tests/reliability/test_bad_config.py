"""Bad configuration, every rule family and every vendor: the run fails before any request
with one line naming the setting and the rule, no traceback, and no credential echoed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import reliability_table
from tests.helpers import run_tap
from tests.reliability.scenarios import CREDENTIALS, captured, secret_hits

pytestmark = pytest.mark.reliability

PASSWORD = CREDENTIALS["infinity"]["password"]
#: Marks a key the case removes from the valid config it starts from.
REMOVED = "<removed>"

#: (id, config without api_urls, the setting named, words of the rule)
CASES: list[tuple[str, dict, str, str]] = [
    # wrong types
    ("integer as text", {"infinity": {"page_size": "many"}}, "infinity.page_size", "integer"),
    ("list for a string", {"infinity": {"tz": ["UTC"]}}, "infinity.tz", "string"),
    ("secret as a number", {"citygrid": {"password": 12345678}}, "citygrid.password", "string"),
    ("date that is not", {"start_date": "next monday"}, "start_date", "not a date"),
    ("concurrency below 1", {"adobe_target": {"max_concurrent_requests": 0}},
     "adobe_target.max_concurrent_requests", "minimum"),
    # unknown keys
    ("unknown vendor", {"infinty": {}}, "infinty", "did you mean 'infinity'"),
    ("unknown vendor key", {"infinity": {"pasword": PASSWORD}}, "infinity", "'pasword'"),
    # impossible dates
    ("end before start", {"start_date": "2026-10-05", "end_date": "2026-10-01"},
     "end_date", "before start_date"),
    ("start in the future", {"start_date": "2099-01-01", "end_date": REMOVED},
     "start_date", "in the future"),
    ("a month 13", {"start_date": "2026-13-11"}, "start_date", "not a date"),
    ("integer text that is no integer", {"infinity": {"lookback_days": "abc"}},
     "infinity.lookback_days", "'abc' is not of type 'integer'"),
    ("boolean text that is no boolean", {"infinity": {"exclude_pii": "yes"}},
     "infinity.exclude_pii", "'yes' is not of type 'boolean'"),
    ("lookback beyond a year", {"infinity": {"lookback_days": 100000000}},
     "infinity.lookback_days", "maximum of 366"),
    ("api_url that is no URL", {"infinity": {"api_url": "not a url"}}, "infinity.api_url",
     "not an http(s) URL"),
    # vendor objects
    ("vendor null", {"infinity": None}, "infinity", "must be an object"),
    ("vendor text", {"infinity": "yes"}, "infinity", "must be an object"),
    ("vendor list", {"infinity": [1001]}, "infinity", "must be an object"),
    ("no vendor at all", {"infinity": REMOVED}, "config", "no vendor is configured"),
    ("activate-version is not offered", {"emit_activate_version_messages": True},
     "emit_activate_version_messages", "unknown setting"),
    ("older than Mintegral keeps", {"mintegral": {}, "start_date": "2025-01-01",
                                    "end_date": "2025-02-01"}, "end_date", "history limit"),
    ("older than CityGrid presets reach", {"citygrid": {}, "start_date": "2025-01-01",
                                           "end_date": "2025-02-01"}, "end_date", "history limit"),
    # empty lists
    ("no installations", {"infinity": {"igrps": []}}, "infinity.igrps", "empty"),
    ("no Infinity reports", {"infinity": {"reports": []}}, "infinity.reports", "empty"),
    ("no Mintegral reports", {"mintegral": {"reports": []}}, "mintegral.reports", "empty"),
    ("no campaigns", {"adobe_target": {"campaign_ids": []}}, "adobe_target.campaign_ids", "list"),
    ("no phones", {"plumvoice": {"phones": []}}, "plumvoice.phones", "non-empty"),
    ("no publisher codes", {"citygrid": {"publisher_codes": []}}, "citygrid.publisher_codes",
     "leave out"),
    # forbidden values and combinations
    ("Mintegral Creative with Sub",
     {"mintegral": {"reports": [{"name": "x", "dimensions": ["Creative", "Sub"]}]}},
     "mintegral.reports[x].dimensions", "cannot be combined"),
    ("Adobe resolution", {"adobe_target": {"resolution": "minute"}}, "adobe_target.resolution",
     "not one of"),
    ("Plum Voice period", {"plumvoice": {"period": "year"}}, "plumvoice.period", "not one of"),
    ("Infinity time zone", {"infinity": {"tz": "Mars/Base"}}, "infinity.tz", "time zone"),
    ("a code listed twice", {"citygrid": {"publisher_codes": ["guest", "guest"]}},
     "citygrid.publisher_codes", "twice"),
    ("Infinity route", {"infinity": {"reports": [{"name": "x", "route": "other/x"}]}},
     "infinity.reports[x].route", "incremental"),
    # shards
    ("shard beyond its count", {"plumvoice": {"shard": "3/2"}}, "plumvoice.shard",
     "is not a shard: write K/N"),
    ("shard zero", {"infinity": {"shard": "0/2"}}, "infinity.shard", "(1 <= K <= N)"),
    ("shard that is no K/N", {"citygrid": {"shard": "half"}}, "citygrid.shard",
     "write K/N"),
    ("shard as a number", {"adobe_target": {"campaign_ids": [7], "shard": 2}},
     "adobe_target.shard", "not of type 'string'"),
    ("Mintegral has no partitions to shard", {"mintegral": {"shard": "1/2"}},
     "mintegral.shard", "no partitions to split"),
    # missing credentials (outside the sandbox, nothing fills them in)
    ("no password", {"sandbox": False, "infinity": {"username": "someone"}},
     "infinity.password", "required"),
    ("no Mintegral key", {"sandbox": False, "mintegral": {"access_key": "a"}},
     "mintegral.api_key", "required"),
]  # fmt: skip


def configured(sandbox, case: dict) -> dict:
    """The case on top of a valid one-vendor config; each vendor object points at `sandbox`
    and carries a distinctive credential, which must never be echoed."""
    config: dict = {"sandbox": True, "start_date": "2026-10-01", "end_date": "2026-10-05"}
    if not any(key in case for key in CREDENTIALS) and "infinty" not in case:
        config["infinity"] = {}
    config.update(case)
    for vendor in CREDENTIALS:
        if isinstance(config.get(vendor), dict):
            credentials = CREDENTIALS[vendor] if config["sandbox"] else {}
            config[vendor] = {"api_url": sandbox.url(vendor), **credentials, **config[vendor]}
    return {key: value for key, value in config.items() if value != REMOVED}


@pytest.mark.parametrize(("config", "setting", "rule"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
@pytest.mark.parametrize("command", ["sync", "discover"])
def test_bad_config_fails_before_any_request_naming_setting_and_rule(
    sandbox, config, setting, rule, command
):
    """In discovery too: Meltano discovers before every run."""
    config = configured(sandbox, config)
    run = run_tap(config, args=["--discover"] if command == "discover" else [])
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "| ERROR " in line or "Traceback" in line]
    hits = secret_hits(captured(run), config)
    reliability_table.record(
        f"bad config ({command})",
        faults=1,
        runs=1,
        secret_hits=hits,
        unhandled=int("Traceback" in run.stderr),
    )
    assert run.returncode == 1
    assert errors == [lines[-1]], "one error line, and it is the last"
    assert f"Invalid setting '{setting}'" in lines[-1], lines[-1]
    assert rule in lines[-1], lines[-1]
    assert sandbox.ledger.requests == [], "a request was sent"
    assert hits == 0


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("start_date: 2026-10-01\ninfinity: {}\n", "is not JSON"),
        ("", "is empty"),
        ("[1, 2]", "holds a JSON list, not an object"),
    ],
    ids=["YAML", "empty", "a list"],
)
def test_a_config_file_that_is_not_a_json_object_is_named(tmp_path, content, words):
    path = tmp_path / "tap.yml"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "tap_perfreports", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    reliability_table.record(
        "bad config (file)", faults=1, runs=1, unhandled=int("Traceback" in done.stderr)
    )
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1
    assert f"The config file '{path}' {words}" in last, last
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
