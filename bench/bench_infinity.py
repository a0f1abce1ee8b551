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
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def control(base: str, action: str, method: str = "GET") -> dict:
    url = f"{base}/_sandbox/{action}"  # always http://127.0.0.1
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def run_tap(module: str, config: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one tap process writing to /dev/null."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{module} failed with status {status}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=275, help="days of backfill")
    parser.add_argument("--scale", type=int, default=50, help="sandbox data volume multiplier")
    args = parser.parse_args()

    port = free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_perfreports.sandbox",
            "--port",
            str(port),
            "--no-keys",
            "--scale",
            str(args.scale),
        ],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert sandbox.stdout is not None
        base = sandbox.stdout.readline().decode().split()[-1]
        start = dt.date(2026, 1, 1)
        config = {
            "sandbox": True,
            "start_date": start.isoformat(),
            "end_date": (start + dt.timedelta(days=args.days - 1)).isoformat(),
            "infinity": {
                "api_url": f"{base}/infinity/reports/v2",
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
                control(base, "reset", "POST")
                seconds, peak_kib = run_tap(module, config_path)
                rows = sum(control(base, "ledger")["rows_served"].values())
                results[label] = (rows, seconds, peak_kib)
    finally:
        sandbox.terminate()
        sandbox.wait()

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
