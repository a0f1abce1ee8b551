"""What reconciliation costs: CityGrid (the vendor whose totals are checked) extracted
with it and without it (`bench/unreconciled_tap.py`), alternated over the same kept
sandbox answers, the fastest of each counted.

The cost is measured in the tap process's CPU seconds (user + system): on a shared
machine its wall-clock time mostly measures the other processes' load. Wall-clock
throughput is printed too. As the A/B comparison still moves with the load, a third run
(`bench/timed_reconcile_tap.py`) times reconciliation inside the process, against the
process's own CPU time: the share that load cannot skew.

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
from bench.timed_reconcile_tap import REPORT_FILE


class Measured(t.NamedTuple):
    rows: int
    cpu: float
    wall: float


def run(module: str, config: Path, env: dict[str, str] | None = None) -> Measured:
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
            env={**os.environ, **(env or {})},
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
    shares: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder, "config.json")
            config.write_text(json.dumps(fmt.config(sandbox.base, 1.0)))
            run("tap_perfreports", config)  # every answer generated once, then kept
            timings = Path(folder, "reconcile.json")
            for _ in range(args.rounds):
                runs["on"].append(run("tap_perfreports", config))
                runs["off"].append(run("bench.unreconciled_tap", config))
                run("bench.timed_reconcile_tap", config, {REPORT_FILE: str(timings)})
                shares.append(json.loads(timings.read_text()))
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
    print(f"  cost: {1 - off.cpu / on.cpu:.1%} of throughput (CPU, A/B)")
    ranked = sorted(shares, key=lambda share: share["reconcile_cpu"] / share["process_cpu"])
    timed = ranked[len(ranked) // 2]  # the median run
    share = timed["reconcile_cpu"] / timed["process_cpu"]
    print(
        f"  in the process: {timed['reconcile_cpu']:.3f} s of {timed['process_cpu']:.2f} s CPU "
        f"in {timed['reports']:.0f} reconciliations ({share:.1%}; "
        f"{timed['reconcile_cpu'] / timed['reports'] * 1e6:.0f} us each)"
    )


if __name__ == "__main__":
    main()
