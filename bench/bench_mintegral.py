"""Pipelined report jobs: a 180-day Mintegral backfill against a sandbox generation delay.

Each run gets a fresh sandbox process whose jobs take `--delay` seconds to generate.
The same backfill runs with all windows in flight at once (`--jobs`, default: every
window), with the default `max_concurrent_jobs` (4), and one job at a time (1). A
second pass of the pipelined backfill against its already generated jobs measures the
download time alone. The bar: pipelined < 3 x delay + download time.

    .venv/bin/python -m bench.bench_mintegral [--days 180] [--delay 2] [--scale 20] [--jobs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tap_perfreports.sandbox.mintegral import DELAY_ENV
from tap_perfreports.vendors.mintegral import MAX_WINDOW_DAYS, default_end_date

REPO = Path(__file__).resolve().parent.parent


def rows_served(base: str) -> int:
    url = f"{base}/_sandbox/ledger"  # always http://127.0.0.1
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
        return sum(json.loads(response.read())["rows_served"].values())


def run_tap(config: dict, folder: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one tap process writing to /dev/null."""
    config_path = Path(folder, "config.json")
    config_path.write_text(json.dumps(config))
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_perfreports", "--config", str(config_path)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"the tap failed with status {status}")
    return elapsed, usage.ru_maxrss


class Sandbox:
    """A sandbox process whose Mintegral jobs take `delay` seconds to generate."""

    def __init__(self, delay: float, scale: int) -> None:
        command = [sys.executable, "-m", "tap_perfreports.sandbox", "--port", "0", "--no-keys"]
        self.process = subprocess.Popen(
            [*command, "--scale", str(scale)],
            stdout=subprocess.PIPE,
            cwd=REPO,
            env={**os.environ, DELAY_ENV: str(delay)},
        )
        assert self.process.stdout is not None
        self.base = self.process.stdout.readline().decode().split()[-1]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=180, help="days of backfill")
    parser.add_argument("--delay", type=float, default=2.0, help="generation delay, seconds")
    parser.add_argument("--scale", type=int, default=20, help="sandbox data volume multiplier")
    parser.add_argument("--jobs", type=int, default=0, help="pipelined jobs (0: every window)")
    parser.add_argument(
        "--dimensions",
        default="Offer,Creative,AdType,Location,AdOutputType",
        help="the report's dimensions (a fine grain makes the downloads large)",
    )
    args = parser.parse_args()

    windows = math.ceil(args.days / MAX_WINDOW_DAYS)
    jobs = args.jobs or windows
    end = default_end_date(dt.datetime.now(dt.UTC))
    start = end - dt.timedelta(days=args.days - 1)
    results: dict[str, tuple[int, int, float, int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for concurrency, passes in (
            (jobs, ("pipelined", "download only (jobs ready)")),
            (4, ("max_concurrent_jobs 4 (default)",)),
            (1, ("sequential",)),
        ):
            sandbox = Sandbox(args.delay, args.scale)
            try:
                config = {
                    "sandbox": True,
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "mintegral": {
                        "api_url": f"{sandbox.base}/mintegral/api/v2",
                        "max_concurrent_jobs": concurrency,
                        "reports": [{"name": "bench", "dimensions": args.dimensions.split(",")}],
                    },
                }
                for name in passes:
                    before = rows_served(sandbox.base)
                    seconds, peak = run_tap(config, folder)
                    results[name] = (concurrency, rows_served(sandbox.base) - before, seconds, peak)
            finally:
                sandbox.close()

    print(
        f"Mintegral backfill: {args.days} days ({start}..{end}) in {windows} windows, "
        f"generation delay D = {args.delay:g}s, dimensions {args.dimensions}, "
        f"sandbox scale {args.scale}"
    )
    print(f"{'run':34} {'jobs':>5} {'rows':>9} {'seconds':>8} {'peak RSS MB':>12}")
    for name, (concurrency, rows, seconds, peak) in results.items():
        print(f"{name:34} {concurrency:>5} {rows:>9,} {seconds:>8.2f} {peak / 1024:>12.1f}")
    pipelined = results["pipelined"][2]
    download = results["download only (jobs ready)"][2]
    sequential = results["sequential"][2]
    bar = 3 * args.delay + download
    verdict = "meets" if pipelined < bar else "MISSES"
    print(
        f"pipelined {pipelined:.2f}s vs bar 3 x D + download = {bar:.2f}s: {verdict} the bar; "
        f"sequential/pipelined = {sequential / pipelined:.1f}x"
    )


if __name__ == "__main__":
    main()
