"""The performance figures in one run: `.venv/bin/python -m bench.run [--quick]`.

1. CPU-bound: rows per second of the tap as shipped, of the SDK-default baseline
   (`bench/baseline_tap.py`) and of the limit (the same bodies parsed and written as
   Singer RECORD lines by a bare msgspec loop), with the sandbox alone measured too.
2. Memory: the tap's peak RSS at two report sizes, ten times apart.
3. Latency-bound: each response delayed 200 ms; one request at a time against
   `max_concurrent_requests: 8`.
4. Requests made, next to the minimum the API's limits allow.

The sandbox runs in its own process; every tap writes to /dev/null. Ratios come from one
run, so they hold on a busy machine; absolute figures are printed for the record.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import tempfile
import time
import typing as t
import urllib.request
from pathlib import Path

import msgspec

from bench.common import SandboxProcess, measure_tap
from tap_perfreports.sandbox import infinity as infinity_sandbox
from tap_perfreports.sandbox import mintegral as mintegral_sandbox
from tap_perfreports.vendors.mintegral import auth_headers

INFINITY_ROUTE = "triggers/all"
#: A fine grain, so that rows grow with the sandbox's volume.
MINTEGRAL_DIMENSIONS = ["Offer", "Creative", "AdType", "Location", "AdOutputType"]
DISPLAY = ["act", "vid", "ch", "goal", "srcPhoneNumber", "ip", "host", "whois", "revenue"]


class Format(t.NamedTuple):
    """One vendor format at one size: how to configure the tap and read its bodies."""

    name: str
    scale: int
    config: t.Callable[[str], dict]
    #: (path, query) of the ledger's requests whose bodies hold the rows
    carries_rows: t.Callable[[dict], bool]
    headers: t.Callable[[], dict[str, str]]
    #: bare loop: body -> number of RECORD lines written to `sink`
    limit: t.Callable[[bytes, t.IO[bytes]], int]


def infinity_format(days: int, scale: int) -> Format:
    def config(base: str) -> dict:
        return {
            "sandbox": True,
            "start_date": "2026-01-01",
            "end_date": f"{_day(days)}",
            "infinity": {
                "api_url": f"{base}/infinity/reports/v2",
                "igrps": [1001, 1002],
                "reports": [{"name": "triggers", "route": INFINITY_ROUTE, "display": DISPLAY}],
            },
        }

    login = f"{infinity_sandbox.USERNAME}:{infinity_sandbox.PASSWORD}".encode()
    return Format(
        "Infinity JSON lines",
        scale,
        config,
        lambda r: r["vendor"] == "infinity" and "/triggers/" in r["path"],
        lambda: {"Authorization": "Basic " + base64.b64encode(login).decode()},
        _limit_json_lines,
    )


def mintegral_format(days: int, scale: int) -> Format:
    def config(base: str) -> dict:
        return {
            "sandbox": True,
            "start_date": "2026-05-30",
            "end_date": f"{_day(days, '2026-05-30')}",
            "mintegral": {
                "api_url": f"{base}/mintegral/api/v2",
                "max_concurrent_jobs": 8,
                "reports": [{"name": "bench", "dimensions": MINTEGRAL_DIMENSIONS}],
            },
        }

    return Format(
        "Mintegral TSV",
        scale,
        config,
        lambda r: r["vendor"] == "mintegral" and r["query"].get("type") == ["2"],
        lambda: auth_headers(
            mintegral_sandbox.ACCESS_KEY, mintegral_sandbox.API_KEY, int(time.time())
        ),
        _limit_tsv,
    )


def _day(days: int, start: str = "2026-01-01") -> str:
    import datetime as dt

    return (dt.date.fromisoformat(start) + dt.timedelta(days=days - 1)).isoformat()


_encode = msgspec.json.Encoder().encode_into
_decode = msgspec.json.Decoder().decode


def _limit_json_lines(body: bytes, sink: t.IO[bytes]) -> int:
    out = bytearray()
    rows = 0
    for line in body.splitlines():
        if line:
            _encode({"type": "RECORD", "stream": "s", "record": _decode(line)}, out, -1)
            out += b"\n"
            rows += 1
    sink.write(out)
    return rows


def _limit_tsv(body: bytes, sink: t.IO[bytes]) -> int:
    lines = body.decode().splitlines()
    header = lines[0].split("\t") if lines else []
    out = bytearray()
    for line in lines[1:]:
        record = dict(zip(header, line.split("\t"), strict=False))
        _encode({"type": "RECORD", "stream": "s", "record": record}, out, -1)
        out += b"\n"
    sink.write(out)
    return max(0, len(lines) - 1)


# Measurements


class Run(t.NamedTuple):
    rows: int
    seconds: float
    peak_mb: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def run_tap(sandbox: SandboxProcess, config: dict, folder: str, module: str) -> Run:
    path = Path(folder, "config.json")
    path.write_text(json.dumps(config))
    sandbox.control("reset", "POST")
    seconds, peak_kib = measure_tap(path, module)
    return Run(sandbox.rows_served(), seconds, peak_kib / 1024)


def sandbox_and_limit(sandbox: SandboxProcess, fmt: Format) -> tuple[Run, Run]:
    """Fetch the row-carrying bodies again with a bare loop (the sandbox alone), then parse
    and write them as RECORD lines (the limit). Run right after the shipped tap."""
    requests = [r for r in sandbox.control("ledger")["requests"] if fmt.carries_rows(r)]
    bodies = []
    started = time.perf_counter()
    for entry in requests:
        query = urllib.parse.urlencode(
            [(k, v) for k, values in entry["query"].items() for v in values]
        )
        url = f"{sandbox.base}/{entry['vendor']}{entry['path']}?{query}"
        request = urllib.request.Request(url, headers=fmt.headers())  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            bodies.append(response.read())
    fetched = time.perf_counter() - started
    rows = 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for body in bodies:
            rows += fmt.limit(body, sink)
    parsed = time.perf_counter() - started
    return Run(rows, fetched, 0.0), Run(rows, parsed, 0.0)


def throughput(fmt: Format, folder: str) -> dict[str, Run]:
    """The sandbox generates every answer during a first, unmeasured pass, then serves
    them from memory, so the runs measure the tap rather than the emulator."""
    sandbox = SandboxProcess(fmt.scale, env={mintegral_sandbox.DELAY_ENV: "0"}, cache=True)
    try:
        config = fmt.config(sandbox.base)
        run_tap(sandbox, config, folder, "tap_perfreports")
        shipped = run_tap(sandbox, config, folder, "tap_perfreports")
        alone, limit = sandbox_and_limit(sandbox, fmt)
        baseline = run_tap(sandbox, config, folder, "bench.baseline_tap")
    finally:
        sandbox.close()
    return {"shipped": shipped, "baseline": baseline, "limit": limit, "sandbox": alone}


def print_throughput(results: dict[str, dict[str, Run]]) -> None:
    print("\n## 1. Records per second (Singer messages to /dev/null)\n")
    print("| format | rows | tap as shipped | SDK defaults | limit (bare loop) | sandbox alone "
          "| shipped / SDK defaults | shipped / limit |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        shipped, baseline, limit, alone = (runs[k] for k in ("shipped", "baseline", "limit",
                                                             "sandbox"))  # fmt: skip
        print(
            f"| {name} | {shipped.rows:,} | {shipped.rate:,.0f}/s ({shipped.seconds:.1f} s) "
            f"| {baseline.rate:,.0f}/s ({baseline.seconds:.1f} s) | {limit.rate:,.0f}/s "
            f"| {alone.rate:,.0f}/s | {shipped.rate / baseline.rate:.2f}x "
            f"| {shipped.rate / limit.rate:.2f} |"
        )


def memory(fmt_small: Format, fmt_large: Format, folder: str) -> tuple[Run, Run]:
    runs = []
    for fmt in (fmt_small, fmt_large):
        sandbox = SandboxProcess(fmt.scale, env={mintegral_sandbox.DELAY_ENV: "0"})
        try:
            runs.append(run_tap(sandbox, fmt.config(sandbox.base), folder, "tap_perfreports"))
        finally:
            sandbox.close()
    return runs[0], runs[1]


# Latency-bound backfills

LATENCY_CONFIGS: dict[str, t.Callable[[str], tuple[dict, int]]] = {}


def latency_config(name: str):
    def register(function):
        LATENCY_CONFIGS[name] = function
        return function

    return register


@latency_config("Infinity")
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


@latency_config("CityGrid")
def _citygrid_latency(base: str) -> tuple[dict, int]:
    """3 codes x 3 view types, each with the fewest presets that cover the year (the
    tap's own choice: its one-at-a-time count is printed as the minimum)."""
    config = {"citygrid": {"api_url": f"{base}/citygrid"}}
    return config, -1  # minimum: computed by the tap's own preset choice, printed below


@latency_config("Adobe Target")
def _adobe_latency(base: str) -> tuple[dict, int]:
    """2 campaigns x 3 metric types x 12 windows of 31 days; 3 streams share each."""
    return {"adobe_target": {"api_url": f"{base}/adobe_target/api"}}, 2 * 3 * 12


def latency(folder: str) -> dict[str, tuple[Run, Run, int, int, int]]:
    results = {}
    for name, make in LATENCY_CONFIGS.items():
        sandbox = SandboxProcess(1)
        try:
            urllib.request.urlopen(  # noqa: S310 - loopback control route
                urllib.request.Request(  # noqa: S310
                    f"{sandbox.base}/_sandbox/faults",
                    data=json.dumps({"latency": 0.2}).encode(),
                    method="POST",
                ),
                timeout=30,
            ).close()
            vendor_config, minimum = make(sandbox.base)
            vendor = next(iter(vendor_config))
            runs = []
            counts = []
            for concurrency in (1, 8):
                config = {
                    "sandbox": True,
                    "start_date": "2025-11-01",
                    "end_date": "2026-10-31",
                    vendor: {**vendor_config[vendor], "max_concurrent_requests": concurrency},
                }
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the volume")
    args = parser.parse_args()
    tenth = 10 if args.quick else 1
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        # ~1,000,000 rows each (Infinity: 2 installations x 250 days x ~40 x scale)
        large = {
            "Infinity JSON lines": infinity_format(250, 50 // tenth),
            "Mintegral TSV": mintegral_format(140, 100 // tenth),
        }
        small = {
            "Infinity JSON lines": infinity_format(25, 50 // tenth),
            "Mintegral TSV": mintegral_format(14, 100 // tenth),
        }
        # Memory first: the limit loop below holds bodies in this process, and a child
        # forked from a large process starts with a large resident set.
        memory_rows = {name: memory(small[name], fmt, folder) for name, fmt in large.items()}
        results = {name: throughput(fmt, folder) for name, fmt in large.items()}
        print_throughput(results)

        print("\n## 2. Peak memory of the tap as shipped\n")
        print("| format | rows | peak RSS | rows x10 | peak RSS | growth |")
        print("|---|---|---|---|---|---|")
        for name, (low, high) in memory_rows.items():
            print(
                f"| {name} | {low.rows:,} | {low.peak_mb:.1f} MB | {high.rows:,} | "
                f"{high.peak_mb:.1f} MB | {high.peak_mb / low.peak_mb - 1:+.0%} |"
            )

        print("\n## 3 and 4. Latency-bound backfills (200 ms per response), requests made\n")
        print("| backfill (one year) | 1 at a time | max_concurrent_requests 8 | ratio "
              "| requests (1 / 8) | minimum |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for name, (one, eight, n1, n8, minimum) in latency(folder).items():
            print(
                f"| {name} | {one.seconds:.1f} s | {eight.seconds:.1f} s | "
                f"{eight.seconds / one.seconds:.2f} | {n1} / {n8} | {minimum} |"
            )
    print(f"\n(one run, {math.ceil(time.perf_counter() - started)} s in all)")


if __name__ == "__main__":
    main()
