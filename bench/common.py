"""What every benchmark does: a sandbox in its own process, and a measured tap process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import typing as t
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class SandboxProcess:
    """`tap-perfreports-sandbox` on a free loopback port, counting rows without keeping keys."""

    def __init__(
        self, scale: int = 1, env: dict[str, str] | None = None, *, cache: bool = False
    ) -> None:
        command = [sys.executable, "-m", "tap_perfreports.sandbox", "--port", "0", "--no-keys"]
        if cache:
            command.append("--cache")
        self.process = subprocess.Popen(
            [*command, "--scale", str(scale)],
            stdout=subprocess.PIPE,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        assert self.process.stdout is not None
        self.base = self.process.stdout.readline().decode().split()[-1]

    def control(self, action: str, method: str = "GET", payload: t.Any = None) -> dict:
        url = f"{self.base}/_sandbox/{action}"  # always http://127.0.0.1
        data = json.dumps(payload).encode() if payload is not None else None
        if method == "POST" and data is None:
            data = b""
        request = urllib.request.Request(url, method=method, data=data)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def rows_served(self) -> int:
        return sum(self.control("ledger")["rows_served"].values())

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


_RECORD_COUNT = re.compile(
    r'METRIC: \{"type":\s*"counter",\s*"metric":\s*"record_count",\s*"value":\s*(\d+)'
)


def records_written(log: str) -> int:
    """RECORD messages a tap wrote, by the SDK's own `record_count` metrics in its log
    (each logged value counts the records since the previous one)."""
    return sum(int(found) for found in _RECORD_COUNT.findall(log))


def measure_tap(config_path: Path, module: str = "tap_perfreports") -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, see `bench/peak.py`) of one tap process writing to
    /dev/null."""
    log, peak = config_path.with_suffix(".log"), config_path.with_suffix(".peak")
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink, log.open("wb") as errors:
        status = subprocess.run(
            [sys.executable, "-m", "bench.peak", module, "--config", str(config_path)],
            stdout=sink,
            stderr=errors,
            cwd=REPO,
            env={**os.environ, "BENCH_PEAK_FILE": str(peak)},
            check=False,
        ).returncode
    elapsed = time.perf_counter() - started
    if status != 0:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        raise SystemExit(f"{module} failed with status {status}:\n" + "\n".join(tail))
    return elapsed, int(peak.read_text())
