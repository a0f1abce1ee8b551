"""Write the extractor's `settings:` in meltano.yml from `tap-perfreports --about`.

Every setting gets its Meltano kind; a vendor's own settings get dotted names
(`infinity.password`) so each has an environment variable; secrets are `sensitive`.

    python scripts/sync_meltano_settings.py          # rewrite meltano.yml
    python scripts/sync_meltano_settings.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import typing as t
from pathlib import Path

from ruamel.yaml import YAML

MELTANO_YML = Path(__file__).resolve().parent.parent / "meltano.yml"
#: Meltano kinds that reinterpret what the user typed are avoided: `date_iso8601` reads
#: 2026-13-11 as 2026-11-13, `boolean` reads "abc" as false, `integer` fails on "abc" with
#: a page of Meltano's own output. As `string`, the value reaches the tap as typed, and the
#: tap reads it (settings.parse_typed_strings) or names the setting in one line.
#: No `number` at all: Meltano 4.4 parses a `decimal` setting given as an environment
#: variable into a Decimal and then fails to write the tap's config (not JSON serializable).
KINDS = {"string": "string", "integer": "string", "boolean": "string"}


def kind(schema: dict[str, t.Any]) -> str:
    """Meltano's kind for one JSON-schema property."""
    if schema.get("secret"):
        return "password"
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else types
    if "number" in types and "integer" not in types:
        raise SystemExit(
            "a number setting cannot be passed through Meltano's environment variables "
            "(Meltano 4.4 fails on Decimal values): make it an integer in a finer unit"
        )
    for name in ("array", "object", "boolean", "integer", "string"):
        if name in types:
            return KINDS.get(name, name)
    return "string"


def setting(name: str, schema: dict[str, t.Any]) -> dict[str, t.Any]:
    entry: dict[str, t.Any] = {"name": name, "kind": kind(schema)}
    if schema.get("description"):
        entry["description"] = schema["description"]
    if schema.get("secret"):
        entry["sensitive"] = True
    return entry


def meltano_settings(about: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Top-level settings, and each vendor object's settings in dotted form."""
    from tap_perfreports.vendors import VENDORS

    vendor_keys = {vendor.key for vendor in VENDORS}
    settings = []
    for name, schema in about["settings"]["properties"].items():
        if name in vendor_keys:
            for child, child_schema in schema["properties"].items():
                settings.append(setting(f"{name}.{child}", child_schema))
        else:
            settings.append(setting(name, schema))
    return settings


def keep_sdk_descriptions(settings: list[dict[str, t.Any]], current: list[t.Any]) -> None:
    """The SDK's own settings (stream maps, flattening, batch) are described by the SDK,
    in words that change between its releases: the check takes the file's words for
    them, so that it passes on every singer-sdk the tap supports."""
    from tap_perfreports.tap import TapPerfReports

    ours = set(TapPerfReports.config_jsonschema["properties"])
    described = {entry["name"]: entry.get("description") for entry in current}
    for entry in settings:
        name = entry["name"]
        if name.split(".")[0] not in ours and described.get(name):
            entry["description"] = described[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args()
    about = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tap_perfreports", "--about", "--format", "json"],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=2, offset=0)
    text = MELTANO_YML.read_text()
    project = yaml.load(text)
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-perfreports")
    settings = meltano_settings(about)
    if args.check:
        keep_sdk_descriptions(settings, extractor["settings"])
    extractor["settings"] = settings
    out = io.StringIO()
    yaml.dump(project, out)
    if args.check:
        if out.getvalue() != text:
            sys.exit("meltano.yml settings are out of date: run scripts/sync_meltano_settings.py")
        return
    MELTANO_YML.write_text(out.getvalue())


if __name__ == "__main__":
    main()
