"""What the orchestration reads from meltano.yml beyond names: an extractor's settings as
Meltano resolves its `inherit_from`, and which jobs extract one shard of a vendor.

A shard job (README "Deploying") runs an extractor whose vendor object sets `shard`: it
extracts a share of that vendor's partitions, and the vendor's other shard jobs the rest.
So it is scheduled when its vendor's day is complete, like the vendor's own job, and is an
alternative to that job, not an addition: its schedule starts stopped in Dagster, and
`vendor_jobs` leaves it out.
"""

from __future__ import annotations

import typing as t


def extractor(project: t.Mapping[str, t.Any], name: str) -> dict[str, t.Any]:
    """The extractor `name` with the `config` (vendor objects merged key by key) and
    `select` of the extractors it inherits from, its own taking precedence."""
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    chain = []
    while name in extractors and name not in [p["name"] for p in chain]:
        chain.append(extractors[name])
        name = extractors[name].get("inherit_from", "")
    config: dict[str, t.Any] = {}
    select: list[str] = []
    for plugin in reversed(chain):  # the root first, so that each child overrides
        for key, value in (plugin.get("config") or {}).items():
            if isinstance(value, t.Mapping) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = dict(value) if isinstance(value, t.Mapping) else value
        select = list(plugin.get("select") or select)
    return {**chain[0], "config": config, "select": select} if chain else {}


def shard_jobs(project: t.Mapping[str, t.Any]) -> dict[str, str]:
    """Job name -> the vendor key whose `shard` its extractor sets (shard jobs only)."""
    found = {}
    for job in project.get("jobs", []):
        for task in job["tasks"]:
            config = extractor(project, task.split()[0]).get("config", {})
            vendors = [key for key, value in config.items() if isinstance(value, dict)]
            sharded = [key for key in vendors if config[key].get("shard")]
            if sharded:
                found[job["name"]] = sharded[0]
    return found
