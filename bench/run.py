"""The performance figures in one run: `.venv/bin/python -m bench.run [--quick]`.

1. CPU-bound: rows per second of the tap as shipped, of the SDK-default baseline
   (`bench/baseline_tap.py`) and of the limit (the same bodies parsed and written as
   Singer RECORD lines by a bare msgspec loop), with the sandbox alone measured too, all
   over the same half of each format (`--full`: all of it).
2. Memory: the tap's peak RSS at about 100,000 and about 1,000,000 rows of each format.
3. Latency-bound: each response delayed 200 ms; one request at a time against
   `max_concurrent_requests: 8`.
4. Requests made, next to the minimum the API's limits allow: every backfill above, a
   Plum Voice backfill under a tight rate limit, Mintegral's job polls counted apart.

The sandbox runs in its own process and keeps every answer it generated: the throughput
runs follow an unmeasured pass over the same share. Every tap writes to /dev/null.
Ratios come from one run, so they hold on a busy machine; absolute figures are printed
for the record.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.parse
import urllib.request
from pathlib import Path

from bench.common import REPO, SandboxProcess, measure_tap, records_written
from bench.formats import (
    ADOBE_UNTHROTTLED,
    ADOBE_UNTHROTTLED_ENV,
    BENCH_NOW,
    INFINITY_ROUTE,
    Format,
    Ledger,
    all_formats,
    mintegral_polls,
    tap_config,
)
from tap_perfreports.clock import SANDBOX_NOW_ENV
from tap_perfreports.sandbox import adobe_target as adobe_sandbox
from tap_perfreports.sandbox import infinity as infinity_sandbox
from tap_perfreports.sandbox import mintegral as mintegral_sandbox
from tap_perfreports.sandbox import plumvoice as plum_sandbox

NO_JOB_DELAY = {mintegral_sandbox.DELAY_ENV: "0"}


class Run(t.NamedTuple):
    #: RECORD messages written (the tap's own count), or rows parsed by the limit
    rows: int
    seconds: float
    peak_mb: float = 0.0
    requests: int = 0
    minimum: int = 0
    polls: int = 0
    #: rows in the bodies the sandbox served (CityGrid's include today's, never kept)
    served: int = 0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def run_tap(sandbox: SandboxProcess, fmt: Format, config: dict, folder: str, module: str) -> Run:
    path = Path(folder, "config.json")
    path.write_text(json.dumps(config))
    sandbox.control("reset", "POST")
    seconds, peak_kib = measure_tap(path, module)
    ledger: Ledger = sandbox.control("ledger")["requests"]
    return Run(
        records_written(path.with_suffix(".log").read_text()),
        seconds,
        peak_kib / 1024,
        fmt.requests_made(ledger),
        fmt.minimum(ledger),
        mintegral_polls(ledger),
        sum(r["rows"] for r in ledger if fmt.carries_rows(r)),
    )


# 1 and 2: throughput and memory


def sandbox_alone(sandbox: SandboxProcess, fmt: Format, bodies: Path) -> Run:
    """Fetch the row-carrying bodies of the last run again with a bare loop, into a file
    (length-prefixed) for the limit loop: the bench process never holds them all."""
    requests = [r for r in sandbox.control("ledger")["requests"] if fmt.carries_rows(r)]
    started = time.perf_counter()
    with bodies.open("wb") as out:
        for entry in requests:
            query = urllib.parse.urlencode(
                [(k, v) for k, values in entry["query"].items() for v in values]
            )
            url = f"{sandbox.base}/{entry['vendor']}{entry['path']}?{query}"
            request = urllib.request.Request(url, headers=fmt.headers(entry))  # noqa: S310
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
                body = response.read()
            out.write(struct.pack("<Q", len(body)))
            out.write(body)
    seconds = time.perf_counter() - started
    return Run(0, seconds)


def limit(fmt: Format, bodies: Path) -> Run:
    """The bare loop, in its own process (`python -m bench.limit`)."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.limit", fmt.name, str(bodies)],
        check=True,
        capture_output=True,
        cwd=REPO,
    ).stdout
    rows, seconds = json.loads(output)
    return Run(rows, seconds)


#: The share of each format the throughput runs extract (`--full`: all of it).
THROUGHPUT_SHARE = 0.5
#: The share of the smaller memory run.
SMALL_SHARE = 0.1
#: Throughput runs of the tap and of the baseline, alternated; the faster of each counts.
ROUNDS = 2


def measure_format(fmt: Format, folder: str, share: float) -> dict[str, Run]:
    """One sandbox, kept answers. First the whole volume (it generates every answer; its
    peak RSS is the large memory figure, its requests the backfill's), then a tenth (the
    small memory figure), then throughput on `share` of it: sandbox alone, the limit, and
    shipped and the SDK-default baseline alternated, all over the same rows."""
    sandbox = SandboxProcess(fmt.scale, env={**NO_JOB_DELAY, **fmt.sandbox_env}, cache=True)
    try:

        def shipped_run(share: float) -> Run:
            return run_tap(sandbox, fmt, fmt.config(sandbox.base, share), folder, "tap_perfreports")

        full = shipped_run(1.0)
        small = shipped_run(SMALL_SHARE)
        shipped_run(share)  # every answer of the share kept (when share is 1, again)
        bodies = Path(folder, "bodies")
        alone = sandbox_alone(sandbox, fmt, bodies)
        bare = limit(fmt, bodies)
        bodies.unlink()
        config = fmt.config(sandbox.base, share)
        # Alternated, the faster of each: a shared machine's load hits both alike.
        shipped_runs, baseline_runs = [], []
        for _ in range(ROUNDS):
            shipped_runs.append(shipped_run(share))
            baseline_runs.append(run_tap(sandbox, fmt, config, folder, "bench.baseline_tap"))
        shipped = min(shipped_runs, key=lambda run: run.seconds)
        baseline = min(baseline_runs, key=lambda run: run.seconds)
    finally:
        sandbox.close()
    return {
        "full": full,
        "small": small,
        "shipped": shipped,
        "baseline": baseline,
        "limit": bare,
        "sandbox": Run(shipped.served, alone.seconds),
    }


def print_throughput(results: dict[str, dict[str, Run]]) -> None:
    print("\n## 1. Records per second (Singer messages to /dev/null)\n")
    print("| format | rows | tap as shipped | SDK defaults | limit (bare loop) | sandbox alone "
          "| shipped / SDK defaults | shipped / limit |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        shipped, baseline, bare, alone = (runs[k] for k in ("shipped", "baseline", "limit",
                                                            "sandbox"))  # fmt: skip
        print(
            f"| {name} | {shipped.rows:,} | {shipped.rate:,.0f}/s ({shipped.seconds:.1f} s) "
            f"| {baseline.rate:,.0f}/s ({baseline.seconds:.1f} s) | {bare.rate:,.0f}/s "
            f"| {alone.rate:,.0f}/s | **{shipped.rate / baseline.rate:.2f}x** "
            f"| {shipped.rate / bare.rate:.2f} |"
        )
    for name, runs in results.items():
        shipped, baseline, bare = runs["shipped"], runs["baseline"], runs["limit"]
        if bare.rows != shipped.served or baseline.rows != shipped.rows:
            print(f"\n(!) {name}: the tap wrote {shipped.rows:,} rows, the baseline "
                  f"{baseline.rows:,}, the bare loop {bare.rows:,}; the sandbox served "
                  f"{shipped.served:,}")  # fmt: skip


def print_memory(results: dict[str, dict[str, Run]]) -> None:
    print("\n## 2. Peak memory (RSS) of the tap as shipped\n")
    print("| format | rows | peak RSS | rows | peak RSS | growth |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        low, high = runs["small"], runs["full"]
        print(
            f"| {name} | {low.rows:,} | {low.peak_mb:.1f} MB | {high.rows:,} | "
            f"{high.peak_mb:.1f} MB | {high.peak_mb / low.peak_mb - 1:+.0%} |"
        )


# 3: latency-bound backfills


def _infinity_latency(base: str) -> tuple[dict, int]:
    """The sandbox's installations x 12 windows of 31 days, one page each, plus the
    request that lists the installations."""
    config = {
        "infinity": {
            "api_url": f"{base}/infinity/reports/v2",
            "reports": [{"name": "triggers", "route": INFINITY_ROUTE, "display": ["act"]}],
        }
    }
    return config, 12 * len(infinity_sandbox.INSTALLATIONS) + 1


def _citygrid_latency(base: str) -> tuple[dict, int]:
    """3 codes x 3 view types, each with the fewest presets that cover the year (the
    tap's own choice: its one-at-a-time count is printed as the minimum)."""
    return {"citygrid": {"api_url": f"{base}/citygrid"}}, -1


def _adobe_latency(base: str) -> tuple[dict, int]:
    """2 campaigns x 3 metric types x 12 windows of 31 days; 3 streams share each. The
    throttle (50 a minute) is lifted: this measures latency, not pacing."""
    settings = {"api_url": f"{base}/adobe_target/api", **ADOBE_UNTHROTTLED}
    return {"adobe_target": settings}, 2 * 3 * 12


LATENCY_BACKFILLS = {
    "Infinity": _infinity_latency,
    "CityGrid": _citygrid_latency,
    "Adobe Target": _adobe_latency,
}


def latency(folder: str) -> dict[str, tuple[Run, Run, int, int, int]]:
    results = {}
    for name, make in LATENCY_BACKFILLS.items():
        sandbox = SandboxProcess(1, env={adobe_sandbox.RATE_LIMIT_ENV: ADOBE_UNTHROTTLED_ENV})
        try:
            sandbox.control("faults", "POST", {"latency": 0.2})
            vendor_config, minimum = make(sandbox.base)
            vendor = next(iter(vendor_config))
            runs = []
            counts = []
            for concurrency in (1, 8):
                settings = {**vendor_config[vendor], "max_concurrent_requests": concurrency}
                config = tap_config(vendor, settings, "2025-11-01", 365)
                path = Path(folder, "config.json")
                path.write_text(json.dumps(config))
                before = len(sandbox.control("ledger")["requests"])
                seconds, peak = measure_tap(path)
                counts.append(len(sandbox.control("ledger")["requests"]) - before)
                runs.append(Run(0, seconds, peak / 1024))
        finally:
            sandbox.close()
        if minimum < 0:
            minimum = counts[0]
        results[name] = (runs[0], runs[1], counts[0], counts[1], minimum)
    return results


# 4: a backfill under Plum Voice's rate limit

PLUM_LIMIT, PLUM_WINDOW_SECONDS = 20, 2
PLUM_PHONES = 30


def rate_limited(folder: str) -> tuple[Run, int, int]:
    """30 phones x 2 windows of 366 days = 60 requests at 20 per 2 s. Returns the run, the
    429s it met, and how many of the limit's windows its requests fell in (at least 3)."""
    env = {plum_sandbox.RATE_LIMIT_ENV: f"{PLUM_LIMIT}/{PLUM_WINDOW_SECONDS}"}
    sandbox = SandboxProcess(PLUM_PHONES // len(plum_sandbox.PHONES), env=env)
    try:
        settings = {
            "api_url": f"{sandbox.base}/plumvoice/api",
            "phones": list(plum_sandbox.phones(PLUM_PHONES // len(plum_sandbox.PHONES))),
            "window_seconds": PLUM_WINDOW_SECONDS,
        }
        config = tap_config("plumvoice", settings, "2024-01-01", 731)
        path = Path(folder, "config.json")
        path.write_text(json.dumps(config))
        seconds, peak = measure_tap(path)
        ledger = sandbox.control("ledger")["requests"]
    finally:
        sandbox.close()
    refused = sum(1 for r in ledger if r["status"] == 429)
    minimum = PLUM_PHONES * 2
    windows = len({math.floor(r["at"] / PLUM_WINDOW_SECONDS) for r in ledger})
    return Run(0, seconds, peak / 1024, len(ledger), minimum), refused, windows


def print_requests(results: dict[str, dict[str, Run]], plum: tuple[Run, int, int]) -> None:
    print("\n## 4. Requests made against the minimum the API allows\n")
    print("| backfill | requests | minimum | polls (Mintegral jobs) |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        full = runs["full"]
        polls = str(full.polls) if name.startswith("Mintegral") else ""
        print(f"| {name} ({full.rows:,} rows) | {full.requests:,} | {full.minimum:,} | {polls} |")
    run, refused, windows = plum
    print(
        f"| Plum Voice, {PLUM_PHONES} phones x 2 years under {PLUM_LIMIT} requests per "
        f"{PLUM_WINDOW_SECONDS} s | {run.requests} ({refused} answered 429) | {run.minimum} | |"
    )
    print(f"\nThe rate-limited backfill took {run.seconds:.1f} s; its requests fell in {windows} "
          f"of the limit's {PLUM_WINDOW_SECONDS} s windows (fewest possible: "
          f"{math.ceil(run.minimum / PLUM_LIMIT)}).")  # fmt: skip


def main() -> None:
    os.environ[SANDBOX_NOW_ENV] = BENCH_NOW  # the sandbox and every tap inherit it
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the volume")
    parser.add_argument(
        "--full", action="store_true", help="throughput over the whole volume, not half"
    )
    parser.add_argument("--only", help="formats whose name contains this text")
    args = parser.parse_args()
    started = time.perf_counter()
    formats = [
        f
        for f in all_formats(10 if args.quick else 1)
        if not args.only or args.only.lower() in f.name.lower()
    ]
    with tempfile.TemporaryDirectory() as folder:
        share = 1.0 if args.full else THROUGHPUT_SHARE
        results = {fmt.name: measure_format(fmt, folder, share) for fmt in formats}
        print_throughput(results)
        print_memory(results)
        print("\n## 3. Latency-bound backfills (200 ms per response)\n")
        print("| backfill (one year) | 1 at a time | max_concurrent_requests 8 | ratio "
              "| requests (1 / 8) | minimum |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for name, (one, eight, n1, n8, minimum) in latency(folder).items():
            print(
                f"| {name} | {one.seconds:.1f} s | {eight.seconds:.1f} s | "
                f"{eight.seconds / one.seconds:.2f} | {n1} / {n8} | {minimum} |"
            )
        print_requests(results, rate_limited(folder))
    print(f"\n(one run, {math.ceil(time.perf_counter() - started)} s in all, "
          f"on {os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()
