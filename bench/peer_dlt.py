"""The peer of `bench/e2e.py`: a dlt pipeline over the same sandbox route and rows.

Runs in its own virtualenv (`bench/requirements-peer.txt`, never a dependency of the
tap): `.bench-venv/bin/python -m bench.peer_dlt SPEC.json`. SPEC holds the sandbox's URL,
the login, the installations, the windows and the destination. It prints one JSON line:
rows loaded and seconds.

Written the way dlt's docs recommend for speed
(https://dlthub.com/docs/reference/performance): a plain resource that yields whole pages
(lists of dicts, as the `rest_api` source does), merge on the tap's primary key, and per
destination the file format its docs name as the fast one: parquet with parallel
normalize into DuckDB, csv (loaded with COPY) into PostgreSQL. The requests are the tap's:
each installation and window sorted by rowId, paged by offset up to the API's 50,000 rows
and then by a rowId filter. A plain resource rather than the `rest_api` source: its
built-in paginators do not switch from offset to a filter, and it expects a JSON
document, where this route answers JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
import typing as t

PAGE = 10_000
MAX_OFFSET_ROWS = 50_000
DISPLAY = ["rowId", "triggerDatetime", "act", "vid", "ch", "goal", "srcPhoneNumber", "ip",
           "host", "whois", "revenue"]  # fmt: skip
PRIMARY_KEY = ["igrp", "trigger_datetime", "row_id"]
#: The tap's SCHEMA, as dlt column hints (dlt would infer the same from the values, but a
#: page of nulls would then leave a column out until its first value).
COLUMNS = {
    "igrp": {"data_type": "bigint", "nullable": False},
    "row_id": {"data_type": "bigint", "nullable": False},
    "trigger_datetime": {"data_type": "timestamp", "nullable": False},
    "act": {"data_type": "text"},
    "vid": {"data_type": "text"},
    "ch": {"data_type": "bigint"},
    "goal": {"data_type": "bigint"},
    "src_phone_number": {"data_type": "text"},
    "ip": {"data_type": "text"},
    "host": {"data_type": "text"},
    "whois": {"data_type": "text"},
    "revenue": {"data_type": "double"},
}
#: What each destination's docs recommend (file format, parallel normalize workers).
TUNING = {
    "duckdb": {"loader_file_format": "parquet", "normalize_workers": 2},
    "postgres": {"loader_file_format": "csv", "normalize_workers": 2},
}


def pages(spec: dict[str, t.Any]) -> t.Iterator[list[dict[str, t.Any]]]:
    import requests

    session = requests.Session()
    session.auth = (spec["username"], spec["password"])
    url = f"{spec['api_url']}/triggers/all"
    for start, end in spec["windows"]:
        for igrp in spec["igrps"]:
            after: int | None = None
            offset = 0
            while True:
                params: list[tuple[str, t.Any]] = [("igrp", igrp)]
                params += [("display[]", d) for d in DISPLAY]
                params += [("sort[]", "rowId-asc")]
                if after is not None:
                    params.append(("filter[]", f"rowId-gt-value-{after}"))
                params += [("startDate", start), ("endDate", end), ("limit", PAGE),
                           ("offset", offset)]  # fmt: skip
                response = session.get(url, params=params, timeout=300)
                response.raise_for_status()
                rows = [json.loads(line) for line in response.content.splitlines() if line]
                page = [
                    {
                        "igrp": igrp,
                        "row_id": row["rowId"],
                        # the API's local time, UTC for these installations
                        "trigger_datetime": row["triggerDatetime"].replace(" ", "T") + "+00:00",
                        "act": row.get("act"),
                        "vid": row.get("vid"),
                        "ch": row.get("ch"),
                        "goal": row.get("goal"),
                        "src_phone_number": row.get("srcPhoneNumber"),
                        "ip": row.get("ip"),
                        "host": row.get("host"),
                        "whois": row.get("whois"),
                        "revenue": row.get("revenue"),
                    }
                    for row in rows
                ]
                if page:
                    yield page
                if len(rows) < PAGE:
                    break
                offset += PAGE
                if offset >= MAX_OFFSET_ROWS:
                    after, offset = rows[-1]["rowId"], 0


def run(spec: dict[str, t.Any]) -> dict[str, t.Any]:
    destination_name = spec["destination"]
    tuning = TUNING[destination_name]
    os.environ["NORMALIZE__WORKERS"] = str(tuning["normalize_workers"])
    os.environ["DATA_WRITER__DISABLE_COMPRESSION"] = "true"  # local files, read once
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    os.environ["DLT_DATA_DIR"] = spec["data_dir"]
    os.environ["DLT_PROJECT_DIR"] = spec["data_dir"]

    import dlt

    if destination_name == "duckdb":
        destination = dlt.destinations.duckdb(spec["duckdb_path"])
    else:
        destination = dlt.destinations.postgres(spec["postgres_url"])

    resource = dlt.resource(
        pages(spec),
        name="infinity_triggers",
        write_disposition="merge",
        primary_key=PRIMARY_KEY,
        columns=COLUMNS,
    )
    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{destination_name}",
        destination=destination,
        dataset_name=spec["schema"],
        pipelines_dir=os.path.join(spec["data_dir"], "pipelines"),
    )
    pipeline.run(resource, loader_file_format=tuning["loader_file_format"])
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts  # type: ignore[union-attr]
    return {"rows": counts.get("infinity_triggers", 0), "seconds": seconds}


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(run(json.load(f))))
