"""Run SQL on the fake Snowflake that target-snowflake wrote to, for the test's checks.

`python query.py DB_PATH DATABASE`, with target-snowflake's interpreter, connects the way
the target did (the Snowflake connector patched by fakesnow_adapter), then reads one JSON
statement per line on stdin and answers each with its rows, pickled (pickle keeps dates,
date-times and Decimals as the connector returns them) behind an 8-byte length.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys

import fakesnow_adapter


def main() -> None:
    db_path, database = sys.argv[1], sys.argv[2]
    fakesnow_adapter.install(db_path)
    import snowflake.connector

    out = sys.stdout.buffer
    with snowflake.connector.connect(database=database) as connection:
        cursor = connection.cursor()
        for line in sys.stdin:
            rows = [tuple(row) for row in cursor.execute(json.loads(line)).fetchall()]
            answer = pickle.dumps(rows)
            out.write(struct.pack(">Q", len(answer)) + answer)
            out.flush()


if __name__ == "__main__":
    main()
