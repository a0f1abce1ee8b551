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
import tempfile
from pathlib import Path

from bench.common import SandboxProcess, measure_tap
from tap_perfreports.sandbox.mintegral import DELAY_ENV
from tap_perfreports.vendors.mintegral import MAX_WINDOW_DAYS, default_end_date


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
    end = default_end_date(dt.datetime.now(dt.UTC), {})
    start = end - dt.timedelta(days=args.days - 1)
    results: dict[str, tuple[int, int, float, int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for concurrency, passes in (
            (jobs, ("pipelined", "download only (jobs ready)")),
            (4, ("max_concurrent_jobs 4 (default)",)),
            (1, ("sequential",)),
        ):
            sandbox = SandboxProcess(args.scale, env={DELAY_ENV: str(args.delay)})
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
                config_path = Path(folder, "config.json")
                config_path.write_text(json.dumps(config))
                for name in passes:
                    before = sandbox.rows_served()
                    seconds, peak = measure_tap(config_path)
                    results[name] = (concurrency, sandbox.rows_served() - before, seconds, peak)
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
    default = results["max_concurrent_jobs 4 (default)"][2]
    rounds = math.ceil(windows / 4)
    print(
        f"max_concurrent_jobs 4: {default:.2f}s, 1: {sequential:.2f}s, ratio 1/4 = "
        f"{sequential / default:.1f}x (4 jobs need {rounds} generation rounds: about "
        f"{rounds} x D + download = {rounds * args.delay + download:.2f}s)"
    )


if __name__ == "__main__":
    main()
