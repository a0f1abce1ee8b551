"""Reliability scenarios: one small backfill per vendor format, and how to judge a run of it.

A scenario's ground truth is its fault-free run, whose every landed key the vendor's own
tests compare with the emulator's deterministic data. A run under faults is then judged
record by record against it: a row lost, a row landed twice in one run, a row that is not in
the truth, or a row whose values differ (a partial record) is counted, never tolerated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import os
import typing as t
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

import pytest

from tap_perfreports.clock import SANDBOX_NOW_ENV
from tests.helpers import TapRun, known_secrets

PLUS8 = dt.timezone(dt.timedelta(hours=8))

#: Distinctive credentials, with characters that URL-encode: the tap is given them, and the
#: emulators expect them (`distinctive_credentials`), so every output can be searched.
CREDENTIALS: dict[str, dict[str, str]] = {
    "infinity": {"password": "Inf1nity pass&word/+%=?"},
    "plumvoice": {"password": "Plum v0ice pass&word/+%=?"},
    "adobe_target": {"password": "Targ3t pass&word/+%=?"},
    "citygrid": {"password": "C1tyGrid pass&word/+%=?"},
    "mintegral": {"api_key": "M1ntegral api key&/+%=?"},
}
#: The emulator module constant holding each credential above.
EMULATOR_CONSTANTS = {"password": "PASSWORD", "api_key": "API_KEY"}


@contextlib.contextmanager
def distinctive_credentials() -> t.Iterator[None]:
    """Make the emulators accept `CREDENTIALS` instead of their default logins."""
    with pytest.MonkeyPatch.context() as patch:
        for vendor, settings in CREDENTIALS.items():
            module = importlib.import_module(f"tap_perfreports.sandbox.{vendor}")
            for name, value in settings.items():
                patch.setattr(module, EMULATOR_CONSTANTS[name], value)
        yield


@dataclass(frozen=True)
class Scenario:
    """A small multi-window, multi-stream backfill of one vendor."""

    name: str
    vendor: str
    start: str
    end: str
    settings: dict[str, t.Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    #: Query parameters of the requests that carry report rows (Mintegral's downloads).
    body_query: dict[str, str] = field(default_factory=dict)
    #: A payload the format cannot be read as, past what a robust reader accepts.
    malformed: bytes = b""
    #: The vendor's error, as it sends it inside an HTTP 200.
    error_in_200: bytes = b""

    def config(self, api_url: str) -> dict[str, t.Any]:
        return {
            "sandbox": True,
            "start_date": self.start,
            "end_date": self.end,
            self.vendor: {"api_url": api_url, **CREDENTIALS[self.vendor], **self.settings},
        }

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}


SCENARIOS = (
    Scenario(
        "infinity",
        "infinity",
        "2026-10-01",
        "2026-10-04",
        # batches of 100 rows: every window also pages by rowId under every fault
        {"igrps": [1001, 1002], "page_size": 40, "batch_size": 100, "max_concurrent_requests": 2},
        malformed=b'{"rowId": 17, "triggerDatetime": "2026-10-01 00:\n',
        error_in_200=b'"Unknown installation 1001"',
    ),
    Scenario(
        "plumvoice",
        "plumvoice",
        "2026-09-01",
        "2026-10-10",
        {
            "phones": ["6175550100", "6175550101"],
            "requests_per_window": 50,
            "window_seconds": 2,
            "max_concurrent_requests": 2,
        },
        malformed=b'{"calls": {"1517979600": 1, "15179',
        error_in_200=b'{"error": "Authentication failed."}',
    ),
    Scenario(
        "adobe_target",
        "adobe_target",
        "2026-08-01",
        "2026-08-20",
        {
            "campaign_ids": [7],
            "resolution": "day",
            "max_concurrent_requests": 2,
            # the report APIs' throttle, with a 2 s window (the emulator's too)
            "requests_per_window": 50,
            "window_seconds": 2,
        },
        malformed=b'<?xml version="1.0"?>\n<report><campaign id="7"><<<</report>',
        error_in_200=b"<error><code>401</code><message>Authentication failed</message></error>",
    ),
    Scenario(
        "citygrid json",
        "citygrid",
        "2026-11-10",
        "2026-11-19",
        {"publisher_codes": ["guest"], "format": "json", "max_concurrent_requests": 2},
        env={SANDBOX_NOW_ENV: "2026-11-20T12:00:00-08:00"},
        malformed=b'{"publisher_codes": ["guest"], "from": "2026-11-',
        error_in_200=b'{"error": "Internal Server Error"}',
    ),
    Scenario(
        "citygrid csv",
        "citygrid",
        "2026-11-10",
        "2026-11-19",
        {"publisher_codes": ["guest"], "format": "csv", "view_types": ["overall", "ads"]},
        env={SANDBOX_NOW_ENV: "2026-11-20T12:00:00-08:00"},
        malformed=b"date,billable_connections,revenue,cpc,ltc,ltc_revenue\n2026-11-10,3,1.5\n",
        error_in_200=b"Internal Server Error\n",
    ),
    Scenario(
        "mintegral",
        "mintegral",
        "2026-02-20",
        "2026-03-05",
        {"max_concurrent_jobs": 2},
        env={SANDBOX_NOW_ENV: dt.datetime(2026, 3, 10, 12, 30, tzinfo=PLUS8).isoformat()},
        body_query={"type": "2"},
        malformed=b"Date\tOffer Id\tOffer Name\n20260220\t1\n",
        error_in_200=b'{"code": 10000, "msg": "Parameter error: token", "data": null}',
    ),
)


def prepare_emulators(server: t.Any) -> None:
    """Give the in-process emulators what the scenarios give the tap: the frozen clocks,
    Plum Voice's 2 s rate-limit window and Adobe Target's 2 s throttle window, and
    Mintegral reports generated at once."""
    for scenario in SCENARIOS:
        if SANDBOX_NOW_ENV in scenario.env:
            now = dt.datetime.fromisoformat(scenario.env[SANDBOX_NOW_ENV])
            server.emulators[scenario.vendor].now = now
    server.emulators["mintegral"].generation_delay = 0.0
    plumvoice = server.emulators["plumvoice"]
    plumvoice.requests_per_window, plumvoice.window_seconds = 50, 2.0
    adobe_target = server.emulators["adobe_target"]
    adobe_target.requests_per_window, adobe_target.window_seconds = 50, 2.0


# Judging runs


def primary_keys(run: TapRun) -> dict[str, list[str]]:
    return {m["stream"]: m["key_properties"] for m in run.messages if m["type"] == "SCHEMA"}


def landed(run: TapRun, keys: t.Mapping[str, list[str]]) -> tuple[dict[tuple, dict], int]:
    """Records by (stream, *primary key), and how many arrived more than once in the run."""
    rows: dict[tuple, dict] = {}
    repeats = 0
    for message in run.messages:
        if message["type"] != "RECORD":
            continue
        record = message["record"]
        key = (message["stream"], *(record[k] for k in keys[message["stream"]]))
        repeats += key in rows
        rows[key] = record
    return rows, repeats


def done(record: t.Mapping[str, t.Any], stream: str, state: t.Mapping[str, t.Any]) -> bool:
    """Whether `state` marks the record's partition done up to the record's day."""
    entry = state.get("bookmarks", {}).get(stream, {})
    replication_key = entry.get("replication_key")
    for partition in entry.get("partitions", []):
        context = partition.get("context", {})
        if all(record.get(k) == v for k, v in context.items()):
            bookmark = partition.get("replication_key_value")
            day = str(record.get(partition.get("replication_key") or replication_key))[:10]
            return bookmark is not None and day <= str(bookmark)[:10]
    return False


@dataclass
class Truth:
    """The fault-free run's rows by (stream, *primary key), and each stream's key."""

    rows: dict[tuple, dict]
    keys: dict[str, list[str]]

    @classmethod
    def of(cls, run: TapRun) -> Truth:
        """From a fault-free run, after checking it is complete and duplicate-free."""
        assert run.returncode == 0, run.stderr[-2000:]
        keys = primary_keys(run)
        rows, repeats = landed(run, keys)
        assert repeats == 0, "the fault-free run landed a row twice"
        assert rows, "the fault-free run landed nothing"
        return cls(rows, keys)


@dataclass
class Verdict:
    """What one scenario's runs (a failed or killed run, then its rerun) did to the truth."""

    expected: int
    lost: int
    duplicated: int
    #: Landed rows that are not in the truth, or differ from it (partial records).
    wrong: int


def judge(truth: Truth, runs: t.Sequence[TapRun]) -> Verdict:
    """Compare the union of `runs` (as an upserting target holds it) with the truth.

    A row is lost if no run landed it, or if a run that did not finish did not land it
    although its last STATE marks the row's window done.
    """
    union: dict[tuple, dict] = {}
    duplicated = wrong = lost = 0
    for number, run in enumerate(runs):
        rows, repeats = landed(run, truth.keys)
        duplicated += repeats
        wrong += sum(1 for key, record in rows.items() if truth.rows.get(key) != record)
        union.update(rows)
        if number < len(runs) - 1:
            lost += sum(
                1
                for key, record in truth.rows.items()
                if key not in rows and done(record, key[0], run.state)
            )
    lost += sum(1 for key in truth.rows if key not in union)
    return Verdict(len(truth.rows), lost, duplicated, wrong)


def secret_hits(text: str, config: t.Mapping[str, t.Any] | None = None) -> int:
    """How many credentials (plain or URL-encoded) appear in `text`."""
    hits = 0
    for secret in known_secrets(config):
        forms = {secret, quote(secret, safe=""), quote_plus(secret)}
        hits += any(form in text for form in forms)
    return hits


def captured(run: TapRun) -> str:
    """Everything a run printed: Singer messages (records, STATE) and its log."""
    return run.stdout + run.stderr + json.dumps(run.messages)
