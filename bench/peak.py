"""Run a module as `python -m` would and write its peak resident set to `PEAK_FILE`.

`ru_maxrss` of a child counts what it inherited before `exec`: a tap started by a large
bench process would report the bench's size. `VmHWM` belongs to the process's own memory
since `exec`, so it is read from /proc at exit instead.

    python -m bench.peak MODULE ARGS...
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from pathlib import Path

PEAK_FILE = "BENCH_PEAK_FILE"


def write_peak() -> None:
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    Path(os.environ[PEAK_FILE]).write_text(kib)


if __name__ == "__main__":
    module, sys.argv = sys.argv[1], sys.argv[1:]
    atexit.register(write_peak)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
