"""Shards: a deterministic share of a vendor's partitions, so that one large account can be
extracted by several extractors (each with its own state, on its own worker).

A vendor's `shard` setting `K/N` keeps the partitions whose shard is K of N. A partition's
shard depends on its key alone (the partition context, as canonical JSON, hashed with
SHA-256), never on the other partitions, their order, the process or Python's `hash`: so
every partition is in exactly one of the N shards, on every run, on every machine, and
adding a phone number or publisher code moves no other partition.

The shard is chosen by jump consistent hashing (Lamping and Veach, 2014): going from N to
N + 1 shards moves only the partitions that the new shard takes (about 1/(N + 1) of them),
and leaves every other partition, with its bookmark, where it was.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t
from dataclasses import dataclass

from tap_perfreports.errors import ConfigError

_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_MASK_64 = (1 << 64) - 1
#: The 64-bit linear congruential step of the published algorithm.
_JUMP_MULTIPLIER = 2862933555777941757


def partition_key(context: t.Mapping[str, t.Any]) -> int:
    """A 64-bit number from a partition's context: equal contexts, equal numbers."""
    text = json.dumps(dict(context), sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def jump_hash(key: int, buckets: int) -> int:
    """The bucket (0 to buckets - 1) of a 64-bit key by jump consistent hashing."""
    if buckets < 1:
        raise ValueError("at least one bucket")
    bucket, jump = -1, 0
    while jump < buckets:
        bucket = jump
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK_64
        jump = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_number(context: t.Mapping[str, t.Any], count: int) -> int:
    """Which of `count` shards (numbered from 1) holds the partition `context`."""
    return jump_hash(partition_key(context), count) + 1


@dataclass(frozen=True)
class Shard:
    """Shard `number` of `count`: the partitions whose `shard_number` is `number`."""

    number: int
    count: int

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"

    def holds(self, context: t.Mapping[str, t.Any]) -> bool:
        return shard_number(context, self.count) == self.number

    def pick(self, partitions: t.Iterable[t.Mapping[str, t.Any]]) -> list[dict]:
        """This shard's partitions, in their given order."""
        return [dict(context) for context in partitions if self.holds(context)]


def parse_shard(setting: str, value: t.Any) -> Shard | None:
    """The `shard` setting (`K/N`, e.g. `1/2`) or None when it is not set; anything else
    is a ConfigError that names `setting` and says how to write one."""
    if value in (None, ""):
        return None
    found = _FORM.match(value) if isinstance(value, str) else None
    if found is not None:
        number, count = int(found.group(1)), int(found.group(2))
        if 1 <= number <= count:
            return Shard(number, count)
    raise ConfigError(
        setting,
        f"{json.dumps(value)[:40]} is not a shard: write K/N for shard K of N shards "
        "(1 <= K <= N), e.g. 1/2 for one extractor and 2/2 for the other; leave it out to "
        "extract every partition",
    )
