"""The tap as shipped, timing its reconciliation: the CPU time spent in
`ReportStream.reconcile_window` (checks, verdict records, their encoding) and the whole
process's, written to `BENCH_RECONCILE_FILE` at exit as JSON. Both are measured in the
same process at the same time, so a shared machine's load weighs on them alike."""

from __future__ import annotations

import atexit
import json
import os
import resource
import time
import typing as t
from pathlib import Path

from tap_perfreports.streams import ReportStream
from tap_perfreports.tap import main

REPORT_FILE = "BENCH_RECONCILE_FILE"
_spent = [0.0, 0]
_reconcile_window = ReportStream.reconcile_window


def _timed(self: ReportStream, *args: t.Any, **kwargs: t.Any) -> t.Any:
    started = time.thread_time()
    try:
        return _reconcile_window(self, *args, **kwargs)
    finally:
        _spent[0] += time.thread_time() - started
        _spent[1] += 1


def _report() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(os.environ[REPORT_FILE]).write_text(
        json.dumps(
            {
                "reconcile_cpu": _spent[0],
                "reports": _spent[1],
                "process_cpu": usage.ru_utime + usage.ru_stime,
            }
        )
    )


ReportStream.reconcile_window = _timed  # type: ignore[method-assign]

if __name__ == "__main__":
    atexit.register(_report)
    main()
