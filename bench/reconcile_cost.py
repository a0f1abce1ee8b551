"""What reconciliation costs: CityGrid (the vendor whose totals are checked) extracted
with it and without it (`bench/unreconciled_tap.py`), alternated over the same kept
sandbox answers, the fastest of each counted.

The cost is measured in the tap process's CPU seconds (user + system): on a shared
machine its wall-clock time mostly measures the other processes' load. Wall-clock
throughput is printed too.

    .venv/bin/python -m bench.reconcile_cost [--scale N] [--rounds N] [--format json|csv]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from bench.common import REPO, SandboxProcess, records_written
from bench.formats import citygrid


class Measured(t.NamedTuple):
    rows: int
    cpu: float
    wall: float


def run(module: str, config: Path) -> Measured:
    """One tap process writing to /dev/null: RECORDs written, CPU and wall seconds."""
    log = config.with_suffix(".log")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink, log.open("wb") as errors:
        subprocess.run(
            [sys.executable, "-m", module, "--config", str(config)],
            stdout=sink,
            stderr=errors,
            cwd=REPO,
            check=True,
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(records_written(log.read_text()), cpu, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100, help="publisher codes / 3")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--format", default="json", choices=["json", "csv"])
    args = parser.parse_args()
    fmt = citygrid(args.format, scale=args.scale)
    sandbox = SandboxProcess(fmt.scale, cache=True)
    runs: dict[str, list[Measured]] = {"on": [], "off": []}
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder, "config.json")
            config.write_text(json.dumps(fmt.config(sandbox.base, 1.0)))
            run("tap_perfreports", config)  # every answer generated once, then kept
            for _ in range(args.rounds):
                runs["on"].append(run("tap_perfreports", config))
                runs["off"].append(run("bench.unreconciled_tap", config))
    finally:
        sandbox.close()
    on, off = (min(runs[k], key=lambda m: m.cpu) for k in ("on", "off"))
    assert on.rows == off.rows, (on.rows, off.rows)
    print(f"{fmt.name}: {on.rows} rows, scale {args.scale}, best of {args.rounds}")
    for name, measured in (("on ", on), ("off", off)):
        print(
            f"  reconcile {name}: {measured.rows / measured.cpu:9,.0f} rows per CPU second "
            f"({measured.cpu:.2f} s CPU, {measured.rows / measured.wall:,.0f} rows/s wall)"
        )
    print(f"  cost: {1 - off.cpu / on.cpu:.1%} of throughput (CPU)")


if __name__ == "__main__":
    main()
