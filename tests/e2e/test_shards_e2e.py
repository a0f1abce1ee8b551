"""Two Plum Voice shards of one account, run at once by `meltano run` into PostgreSQL,
against the sandbox's one rate limit for the account (issue 16, "Large accounts").

The shards are the example extractors of meltano.yml (tap-perfreports-plumvoice-shard-1-of-2
and -2-of-2), each with its own Meltano state; Meltano's system database is on PostgreSQL,
as workers on several machines would share it. The emulator's limit is shrunk (5 requests
per 2-second window) so that the shards spend it together for many windows. Judged by the
emulator's rate log and the warehouse, never by elapsed time:

- the shards ran in parallel: some window served requests of both;
- every 429 was waited out: the refused request was sent again, and not before the
  window it was refused in had reset (on the emulator's own clock);
- nothing lost and no value wrong: every landed value equals a fresh unsharded extraction;
- each shard's state holds its own phones, all of them, and no other.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json

import pytest

from tap_perfreports.sandbox import plumvoice as plumvoice_sandbox
from tap_perfreports.sandbox.plumvoice import RateLimitEntry
from tests.e2e.conftest import Meltano, Postgres
from tests.e2e.warehouse import judge, truth_of
from tests.helpers import run_tap

pytestmark = pytest.mark.e2e

STREAM = "plumvoice_performance"
SHARDS = {1: "tap-perfreports-plumvoice-shard-1-of-2", 2: "tap-perfreports-plumvoice-shard-2-of-2"}
#: Four years of days: four requests per phone (a request covers at most 366 days).
START, END = "2022-01-01", "2025-12-31"
#: The account's limit in the sandbox. Each shard sends up to CONCURRENCY requests at once,
#: and both shards' waiting requests go as a window resets: with no more of them than the
#: limit, a request refused at the end of a window is served in the next (README).
LIMIT, WINDOW_SECONDS, CONCURRENCY = 5, 2.0, 2
SCALE = 4  # the sandbox account's numbers: twenty, and ALL


def env_prefix(extractor: str) -> str:
    """Meltano's environment variable prefix for an extractor's own settings."""
    return extractor.upper().replace("-", "_")


def state_of(meltano: Meltano, uri: str, extractor: str) -> dict:
    state_id = f"dev:{extractor}-to-target-postgres"
    got = meltano.run("state", "get", state_id, env={"MELTANO_DATABASE_URI": uri})
    assert got.returncode == 0, got.output[-3000:]
    return json.loads(got.stdout)["singer_state"]


def early_retries(log: list[RateLimitEntry], window_seconds: float) -> list[str]:
    """Each 429 in the emulator's rate log that was never asked again, or asked again
    before the window it was refused in had reset (by the emulator's clock)."""
    found = []
    for index, entry in enumerate(log):
        if entry.status != 429:
            continue
        retry = next((e for e in log[index + 1 :] if e.path == entry.path), None)
        reset = (entry.window + 1) * window_seconds
        if retry is None:
            found.append(f"{entry.path}: refused in window {entry.window}, never asked again")
        elif retry.window <= entry.window or retry.at < reset:
            found.append(
                f"{entry.path}: refused in window {entry.window}, asked again at "
                f"{retry.at:.3f}, before its reset at {reset:.3f}"
            )
    return found


def test_a_429_retried_before_its_reset_or_never_is_found():
    """The rate-log judgement above can fail: on a log where it should."""
    refused = RateLimitEntry(10.5, 5, 429, "/api/performance/a")
    served = RateLimitEntry(10.6, 5, 200, "/api/performance/b")
    assert early_retries([refused, served], 2.0) == [
        "/api/performance/a: refused in window 5, never asked again"
    ]
    too_soon = RateLimitEntry(11.9, 5, 200, "/api/performance/a")
    assert len(early_retries([refused, served, too_soon], 2.0)) == 1
    after_reset = RateLimitEntry(12.0, 6, 200, "/api/performance/a")
    assert early_retries([refused, served, after_reset], 2.0) == []


def create_table_first(meltano: Meltano) -> None:
    """target-postgres checks whether a table exists and then creates it, so two targets
    creating the same new table at once can collide in PostgreSQL's catalog (README
    "Deploying"). The table is created as a first run of either shard would: the target
    gets the stream's SCHEMA message (from the tap's discovery), and no record."""
    from tap_perfreports.vendors.plumvoice import SCHEMA

    message = {
        "type": "SCHEMA",
        "stream": STREAM,
        "schema": SCHEMA,
        "key_properties": ["phone", "period", "period_start"],
    }
    done = meltano.run("invoke", "target-postgres", stdin=json.dumps(message) + "\n")
    assert done.returncode == 0, done.output[-3000:]


def test_two_plumvoice_shards_in_parallel_share_the_rate_limit_and_land_every_value(
    sandbox, postgres: Postgres, meltano: Meltano
):
    emulator = sandbox.emulators["plumvoice"]
    emulator.scale = SCALE
    phones = ["ALL", *plumvoice_sandbox.phones(SCALE)]
    system_db = f"meltano_{meltano.schema}"
    postgres.query(f"create database {system_db}")
    uri = f"postgresql+psycopg2://{postgres.user}@{postgres.host}:{postgres.port}/{system_db}"
    # Meltano migrates its system database on first use: once, before two processes do.
    migrated = meltano.run("state", "list", env={"MELTANO_DATABASE_URI": uri})
    assert migrated.returncode == 0, migrated.output[-3000:]
    create_table_first(meltano)
    tables = "select table_name from information_schema.tables where table_schema = %s"
    assert postgres.query(tables, meltano.schema) == [(STREAM,)]

    env = {
        "MELTANO_DATABASE_URI": uri,
        "TAP_PERFREPORTS_START_DATE": START,
        "TAP_PERFREPORTS_END_DATE": END,
        "TAP_PERFREPORTS_PLUMVOICE_API_URL": sandbox.url("plumvoice"),
        "TAP_PERFREPORTS_PLUMVOICE_MAX_CONCURRENT_REQUESTS": str(CONCURRENCY),
    }
    for extractor in SHARDS.values():
        # meltano.yml's dev environment lists the sandbox's first five numbers for the
        # shards: the extractor's own variable overrides that.
        env[f"{env_prefix(extractor)}_PLUMVOICE_PHONES"] = json.dumps(phones)
    emulator.requests_per_window, emulator.window_seconds = LIMIT, WINDOW_SECONDS
    with concurrent.futures.ThreadPoolExecutor(len(SHARDS)) as pool:
        runs = {
            number: pool.submit(meltano.run, "run", extractor, "target-postgres", env=env)
            for number, extractor in SHARDS.items()
        }
        done = {number: run.result() for number, run in runs.items()}
    for number, run in done.items():
        assert run.returncode == 0, f"shard {number}: {run.output[-4000:]}"
    log = list(emulator.rate_log)
    emulator.requests_per_window = 1_000_000  # the truth is extracted without waiting

    # Each shard's state: its own phones, every one bookmarked at the end, no other.
    held = {}
    for number, extractor in SHARDS.items():
        partitions = state_of(meltano, uri, extractor)["bookmarks"][STREAM]["partitions"]
        held[number] = {p["context"]["phone"] for p in partitions}
        assert len(held[number]) == len(partitions), partitions
        assert {p["replication_key_value"] for p in partitions} == {END}
        assert all(p["context"]["period"] == "day" for p in partitions)
        assert f"shard {number}/2 extracts {len(held[number])} of the {len(phones)}" in (
            done[number].output
        )
    assert held[1] | held[2] == set(phones)
    assert not held[1] & held[2]
    assert held[1]
    assert held[2]

    # The rate log, each request told to its shard by its phone.
    shard_of_phone = {phone: number for number, shard in held.items() for phone in shard}
    shard_of = {e.path: shard_of_phone[e.path.rsplit("/", 1)[1]] for e in log}
    served = [e for e in log if e.status == 200]
    refused = [i for i, e in enumerate(log) if e.status == 429]
    # Nothing lost: every phone's four windows were served. A request served twice must be
    # one its shard retried after a transient failure (logged), not a repeat of its own.
    assert len({e.path for e in served}) == len(phones) * 4, "a request was never served"
    twice = [path for path, n in collections.Counter(e.path for e in served).items() if n > 1]
    reasons = []
    for path in twice:
        output = done[shard_of[path]].output
        start, end, _, phone = path.split("/")[-4:]
        retried = [
            line
            for line in output.splitlines()
            if f"phone={phone}," in line
            and f"start={start} end={end}" in line
            and ("retry" in line or "asking once more" in line)
        ]
        assert retried, f"{path}: served twice, never retried: {output[-3000:]}"
        reasons.append(retried[0].split(f"end={end}: ", 1)[-1][:120])
    per_window = collections.defaultdict(set)
    for entry in served:
        per_window[entry.window].add(shard_of[entry.path])
    assert any(shards == {1, 2} for shards in per_window.values()), "the shards never overlapped"
    assert all(sum(1 for e in served if e.window == window) <= LIMIT for window in per_window), (
        "the emulator served more than its limit"
    )
    assert early_retries(log, emulator.window_seconds) == []
    for number, run in done.items():
        assert run.output.count("HTTP 429") == sum(
            1 for i in refused if shard_of[log[i].path] == number
        ), f"shard {number}: a 429 was not logged, or logged twice"

    # Every landed value equals a fresh unsharded extraction of the same phones.
    config = {
        "sandbox": True,
        "start_date": START,
        "end_date": END,
        "plumvoice": {"api_url": sandbox.url("plumvoice"), "phones": phones},
    }
    truth = truth_of(run_tap(config, timeout=600))
    verdict = judge(truth, postgres.query, meltano.schema)
    assert verdict.expected == len(phones) * 1461
    assert verdict.clean, verdict
    print(
        f"shards: {len(held[1])} and {len(held[2])} phones, {len(served)} requests served "
        f"({len(twice)} twice after a logged retry: {reasons}) in "
        f"{len(per_window)} windows ({sum(1 for s in per_window.values() if s == {1, 2})} "
        f"shared), {len(refused)} refused with 429 and retried after the reset, "
        f"{verdict.expected} rows landed and judged"
    )
