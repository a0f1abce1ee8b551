"""What a run is given on the command line (config, state and catalog files) and the state
it resumes from, checked before any request: a mistake is one line that names the file,
stream or partition and says what to do, never a traceback or a silent full re-extraction.
"""

from __future__ import annotations

import contextlib
import json
import typing as t
from pathlib import Path

from tap_perfreports.errors import TapPerfReportsError
from tap_perfreports.windows import parse_bookmark

#: Meltano's `meltano state get` prints the state inside this key.
MELTANO_WRAPPER = "singer_state"

_RESET_HINT = (
    "fix or remove the bookmark, or start over with `meltano state clear <state id>` "
    "(or `meltano run --full-refresh ...`)"
)


class InputError(TapPerfReportsError):
    """A config, state or catalog file the run cannot use."""


def check_cli_files(argv: t.Sequence[str]) -> None:
    """Every --config, --state and --catalog file exists and holds a JSON object (a state
    also passes `normalize_state`). `--config ENV` reads the environment instead."""
    for option, path in _file_options(argv):
        if option == "--config" and path == "ENV":
            continue
        kind = option.removeprefix("--")
        file = Path(path)
        if not file.is_file():
            raise InputError(f"The {kind} file '{path}' does not exist.")
        text = file.read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            empty = {"config": "{}", "state": "{} (no state)", "catalog": "a catalog"}[kind]
            raise InputError(f"The {kind} file '{path}' is empty: it must hold {empty}.")
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise InputError(
                f"The {kind} file '{path}' is not JSON ({exc}): it must hold a JSON object."
            ) from None
        if not isinstance(value, dict):
            raise InputError(
                f"The {kind} file '{path}' holds a JSON {type(value).__name__}, not an object."
            )
        if kind == "state":
            try:
                normalize_state(value)
            except InputError as exc:
                raise InputError(f"The state file '{path}': {exc}") from None


def _file_options(argv: t.Sequence[str]) -> t.Iterator[tuple[str, str]]:
    options = ("--config", "--state", "--catalog")
    args = list(argv)
    for index, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name not in options:
            continue
        if equals:
            yield name, value
        elif index + 1 < len(args):
            yield name, args[index + 1]


def normalize_state(state: object) -> dict[str, t.Any]:
    """The state to resume from: Meltano's `{"singer_state": ...}` wrapper unwrapped, and
    every bookmark checked. Raises InputError naming the stream and partition."""
    if isinstance(state, dict) and set(state) == {MELTANO_WRAPPER}:
        state = state[MELTANO_WRAPPER]
    if not isinstance(state, dict):
        raise InputError(f"the state is a {_type(state)}, not an object; {_RESET_HINT}.")
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise InputError(
            f"'bookmarks' is a {_type(bookmarks)}, not an object of streams; {_RESET_HINT}."
        )
    for stream, entry in bookmarks.items():
        where = f"stream {stream}"
        if not isinstance(entry, dict):
            raise InputError(
                f"{where}: its state is a {_type(entry)}, not an object; {_RESET_HINT}."
            )
        _check_bookmark(where, entry)
        partitions = entry.get("partitions", [])
        if not isinstance(partitions, list):
            raise InputError(
                f"{where}: 'partitions' is a {_type(partitions)}, not a list; {_RESET_HINT}."
            )
        for partition in partitions:
            context = partition.get("context") if isinstance(partition, dict) else None
            if not isinstance(context, dict):
                raise InputError(
                    f"{where}: a partition has no 'context' object ({partition!r:.80}); "
                    f"{_RESET_HINT}."
                )
            named = ", ".join(f"{key}={value}" for key, value in context.items())
            _check_bookmark(f"{where} | {named}", partition)
    return state


def _check_bookmark(where: str, entry: t.Mapping[str, t.Any]) -> None:
    value = entry.get("replication_key_value")
    if value is None:
        return
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parse_bookmark(value)
            return
    raise InputError(
        f"{where}: the bookmark {value!r:.40} is not a date (YYYY-MM-DD); {_RESET_HINT}."
    )


def _type(value: object) -> str:
    return "null" if value is None else f"JSON {_JSON_NAMES.get(type(value), 'value')}"


_JSON_NAMES = {
    dict: "object",
    list: "list",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
}
