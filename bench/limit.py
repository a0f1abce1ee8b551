"""The limit of one format, in its own process: `python -m bench.limit FORMAT BODIES`.

Reads the length-prefixed bodies `bench/run.py` fetched, parses each with the format's
bare loop and writes RECORD lines to /dev/null. Prints `[rows, seconds]`: the clock
starts once the file is read, so only parsing and writing count.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from pathlib import Path

from bench.formats import all_formats


def main() -> None:
    name, path = sys.argv[1:3]
    fmt = next(f for f in all_formats() if f.name == name)
    data = Path(path).read_bytes()
    rows = 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        offset = 0
        while offset < len(data):
            (size,) = struct.unpack_from("<Q", data, offset)
            offset += 8
            rows += fmt.limit(data[offset : offset + size], sink)
            offset += size
    print(json.dumps([rows, time.perf_counter() - started]))


if __name__ == "__main__":
    main()
