"""Records per second and peak memory for a large Infinity backfill from the sandbox.

Runs the sandbox in its own process, then the tap as shipped (msgspec writer) and the
same tap with the SDK's default writer, each writing Singer messages to /dev/null.
Both are measured in this one run, so the ratio holds even on a busy machine.

    .venv/bin/python -m bench.bench_infinity [--days 275] [--scale 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path

from bench.common import SandboxProcess, measure_tap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=275, help="days of backfill")
    parser.add_argument("--scale", type=int, default=50, help="sandbox data volume multiplier")
    args = parser.parse_args()

    sandbox = SandboxProcess(args.scale)
    try:
        start = dt.date(2026, 1, 1)
        config = {
            "sandbox": True,
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(days=args.days - 1)).isoformat(),
            "infinity": {
                "api_url": f"{sandbox.base}/infinity/reports/v2",
                "reports": [{"name": "triggers", "route": "triggers/all"}],
            },
        }
        results = {}
        with tempfile.TemporaryDirectory() as folder:
            config_path = Path(folder, "config.json")
            config_path.write_text(json.dumps(config))
            for label, module in (
                ("tap as shipped (msgspec writer)", "tap_perfreports"),
                ("SDK default writer", "bench.baseline_tap"),
            ):
                sandbox.control("reset", "POST")
                seconds, peak_kib = measure_tap(config_path, module)
                results[label] = (sandbox.rows_served(), seconds, peak_kib)
    finally:
        sandbox.close()

    print(f"Infinity backfill: {args.days} days x 2 installations, sandbox scale {args.scale}")
    print(f"{'run':34} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}")
    for label, (rows, seconds, peak_kib) in results.items():
        rate = rows / seconds
        print(f"{label:34} {rows:>10,} {seconds:>8.1f} {rate:>9,.0f} {peak_kib / 1024:>12.1f}")
    (shipped_rows, shipped_s, shipped_kib), (base_rows, base_s, base_kib) = results.values()
    speedup = (shipped_rows / shipped_s) / (base_rows / base_s)
    print(
        f"ratio shipped/default: throughput {speedup:.2f}x, "
        f"peak memory {shipped_kib / base_kib:.2f}x"
    )


if __name__ == "__main__":
    main()
