"""Shards (the vendors' `shard` setting): which partitions a shard holds, tested as a pure
function, then through the CLI against the sandbox for a vendor with listed partitions
(Plum Voice phones) and one whose partitions the API lists (CityGrid publisher codes)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys

import pytest

from tap_perfreports.errors import ConfigError
from tap_perfreports.sandbox import citygrid as citygrid_sandbox
from tap_perfreports.sandbox import plumvoice as plumvoice_sandbox
from tap_perfreports.shards import Shard, parse_shard, shard_number
from tests.helpers import REPO, run_tap, sandbox_config

#: Partitions shaped like the vendors': Plum Voice phone and period, CityGrid code and
#: placement, Adobe Target campaign (a number) and metric type, Infinity installation.
PARTITIONS = (
    [{"phone": str(6175550000 + n), "period": "day"} for n in range(300)]
    + [{"publisher_code": f"pub_{n:05d}", "placement": p} for n in range(150) for p in "ab"]
    + [{"campaign_id": n, "metric_type": m, "duration": "day"} for n in range(100)
       for m in ("visit", "visitor", "impression")]
    + [{"igrp": 1000 + n} for n in range(100)]
)  # fmt: skip


def assignment(partitions: list[dict], count: int) -> dict[str, int]:
    """Partition (as canonical JSON) -> the shard that holds it, asking each Shard."""
    shards = [Shard(number, count) for number in range(1, count + 1)]
    held: dict[str, list[int]] = collections.defaultdict(list)
    for shard in shards:
        for context in shard.pick(partitions):
            held[json.dumps(context, sort_keys=True)].append(shard.number)
    assert all(len(numbers) == 1 for numbers in held.values()), "a partition in two shards"
    return {key: numbers[0] for key, numbers in held.items()}


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_every_partition_is_in_exactly_one_shard(count):
    held = assignment(PARTITIONS, count)
    assert set(held) == {json.dumps(p, sort_keys=True) for p in PARTITIONS}
    assert set(held.values()) == set(range(1, count + 1)), "a shard holds nothing"


def test_the_shard_depends_on_the_partition_alone_not_on_order_or_company():
    held = assignment(PARTITIONS, 4)
    shuffled = random.Random(7).sample(PARTITIONS, len(PARTITIONS))
    assert assignment(shuffled, 4) == held
    # fewer partitions (a phone removed from the list) moves none of the others
    assert assignment(PARTITIONS[::3], 4) == {k: held[k] for k in assignment(PARTITIONS[::3], 4)}
    # the context's key order is not part of the key
    reordered = [dict(reversed(list(p.items()))) for p in PARTITIONS]
    assert assignment(reordered, 4) == held
    # a shard keeps the order it is given (the SDK syncs partitions in that order)
    picked = Shard(2, 4).pick(shuffled)
    assert picked == [p for p in shuffled if held[json.dumps(p, sort_keys=True)] == 2]


def test_every_process_assigns_the_same_shards_whatever_its_hash_seed():
    """Python's own hash of a string changes with PYTHONHASHSEED; shards must not."""
    script = (
        "import json, sys; from tap_perfreports.shards import shard_number; "
        "print(json.dumps([shard_number(p, 5) for p in json.load(sys.stdin)]))"
    )
    answers = set()
    for seed in ("1", "2", "random"):
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(PARTITIONS),
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        answers.add(done.stdout)
    assert answers == {json.dumps([shard_number(p, 5) for p in PARTITIONS]) + "\n"}


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_one_more_shard_takes_partitions_from_the_others_and_moves_no_other(count):
    """Going from N to N + 1 shards, a partition either stays (with its bookmark, in its
    shard's state) or moves to the new shard, which starts from start_date anyway."""
    before, after = assignment(PARTITIONS, count), assignment(PARTITIONS, count + 1)
    moved = [key for key in before if after[key] != before[key]]
    assert all(after[key] == count + 1 for key in moved)
    share = len(moved) / len(PARTITIONS)
    assert 0.5 / (count + 1) < share < 1.5 / (count + 1), share


@pytest.mark.parametrize("count", [2, 3, 8])
def test_shards_are_about_even(count):
    keys = [{"phone": str(n)} for n in range(20000)]
    sizes = collections.Counter(shard_number(key, count) for key in keys)
    mean = len(keys) / count
    assert all(abs(size - mean) < 0.05 * mean for size in sizes.values()), sizes


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1/2", Shard(1, 2)), ("2/2", Shard(2, 2)), (" 3 / 10 ", Shard(3, 10)), ("1/1", Shard(1, 1)),
     (None, None), ("", None)],
)  # fmt: skip
def test_a_shard_is_written_k_of_n(value, expected):
    assert parse_shard("plumvoice.shard", value) == expected


@pytest.mark.parametrize("value", ["3/2", "0/2", "1/0", "half", "1/2/3", "-1/2", "1", 1, [1, 2]])
def test_anything_else_is_refused_naming_the_setting(value):
    with pytest.raises(ConfigError) as refused:
        parse_shard("plumvoice.shard", value)
    message = str(refused.value)
    assert message.startswith("Invalid setting 'plumvoice.shard': ")
    assert "write K/N for shard K of N shards" in message
    assert "\n" not in message


# Through the CLI


def phones_of(run, stream: str = "plumvoice_performance") -> set[str]:
    return {json.loads(context)["phone"] for context in run.bookmarks(stream)}


def test_plumvoice_shards_extract_every_phone_once_each_with_its_own_state(sandbox):
    phones = ["ALL", *plumvoice_sandbox.PHONES]
    whole = run_tap(sandbox_config(sandbox, "plumvoice", "2026-09-01", "2026-09-30", phones=phones))
    assert whole.returncode == 0, whole.stderr
    shards = {
        number: run_tap(
            sandbox_config(
                sandbox, "plumvoice", "2026-09-01", "2026-09-30", phones=phones, shard=f"{number}/2"
            )
        )
        for number in (1, 2)
    }
    for number, run in shards.items():
        assert run.returncode == 0, run.stderr
        held = phones_of(run)
        # its state: its own phones (each bookmarked at the end), and no other
        assert held == {
            p for p in phones if shard_number({"phone": p, "period": "day"}, 2) == number
        }
        assert set(run.bookmarks("plumvoice_performance").values()) == {"2026-09-30"}
        assert {r["phone"] for r in run.records("plumvoice_performance")} == held
        assert (
            f"shard {number}/2 extracts {len(held)} of the {len(phones)} partitions" in run.stderr
        )
    assert phones_of(shards[1]) | phones_of(shards[2]) == set(phones)
    assert not phones_of(shards[1]) & phones_of(shards[2])
    together = shards[1].records("plumvoice_performance") + shards[2].records(
        "plumvoice_performance"
    )
    key = lambda r: (r["phone"], r["period_start"])  # noqa: E731
    assert sorted(together, key=key) == sorted(whole.records("plumvoice_performance"), key=key)


def test_citygrid_shards_split_the_codes_the_login_lists(sandbox):
    """No publisher_codes: each shard asks the API for the login's codes and keeps its own."""
    moment = "2026-11-20T12:00:00-08:00"  # CityGrid's reporting today: the 20th
    emulator = sandbox.emulators["citygrid"]
    emulator.scale = 3  # nine codes
    emulator.now = dt.datetime.fromisoformat(moment)
    codes = set(citygrid_sandbox.placements(3))
    held = {}
    for number in (1, 2):
        config = sandbox_config(
            sandbox, "citygrid", "2026-11-12", "2026-11-19", view_types=["overall"],
            shard=f"{number}/2",
        )  # fmt: skip
        run = run_tap(config, env={**os.environ, citygrid_sandbox.NOW_ENV: moment})
        assert run.returncode == 0, run.stderr
        held[number] = {json.loads(c)["publisher_code"] for c in run.bookmarks("citygrid_overall")}
        assert held[number], "a shard extracted nothing"
        assert {r["publisher_code"] for r in run.records("citygrid_overall")} <= held[number]
        assert set(run.bookmarks("citygrid_overall").values()) == {"2026-11-19"}
    assert held[1] | held[2] == codes
    assert not held[1] & held[2]


def test_a_shard_that_holds_no_partition_fails_before_any_request_naming_the_setting(sandbox):
    """Phones left at ALL are one partition: of two shards, one holds nothing. It fails
    in one line instead of reporting success with no data."""
    only = {"phone": "ALL", "period": "day"}
    empty = 3 - shard_number(only, 2)
    run = run_tap(
        sandbox_config(sandbox, "plumvoice", "2026-09-01", "2026-09-30", shard=f"{empty}/2")
    )
    assert run.returncode == 1
    last = run.last_log_line
    assert f"Invalid setting 'plumvoice.shard': shard {empty}/2 holds none of the 1 " in last
    assert "Use fewer shards" in last
    assert "Traceback" not in run.stderr
    assert sandbox.ledger.requests == [], "a request was sent"
    assert not run.records("plumvoice_performance")
