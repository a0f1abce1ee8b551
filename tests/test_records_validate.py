"""Every record the tap emits validates against its own SCHEMA message, for every stream.

This is what lets `meltano.yml` set `validate_records: false` on target-postgres (README
"Performance"): the target's per-record JSON-schema validation would check our records
against the very schema we send, and it was most of the target's time. Each vendor runs
through the sandbox in each of its formats and report shapes (every stream the tap has),
and each record is checked twice: by the SDK's own validator, as target-postgres builds
it (with string formats checked too, stricter than the target's default), and by
jsonschema's Draft 7 validator with its format checker (target-duckdb's). Neither checks
a date-time without the optional rfc3339-validator package, so every `date-time` and
`date` value is also parsed here, as a target parses it before loading. A record may
also hold no property its schema lacks, and must hold every key property.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import jsonschema
import pytest
from singer_sdk.sinks.core import JSONSchemaValidator

from tap_perfreports.sandbox import plumvoice as plumvoice_sandbox
from tests.helpers import run_tap
from tests.vendor_cases import CASES, STREAMS, all_vendors, written_streams

#: Beside each vendor's case (tests/vendor_cases.py): its other formats and report shapes.
VARIANTS: dict[str, dict[str, t.Any]] = {
    "infinity, channel metrics by day and a time zone": {
        "infinity": {
            "igrps": [1001, 1002],
            "tz": "America/New_York",
            "exclude_pii": True,
        }
    },
    "plumvoice, XML by week": {
        "plumvoice": {"format": "xml", "period": "week", "phones": plumvoice_sandbox.phones()[:2]}
    },
    "plumvoice, JSON by month": {"plumvoice": {"format": "json", "period": "month"}},
    "adobe_target, every segment and metric type, hourly": {
        "adobe_target": {
            "campaign_ids": [7],
            "segments": "all",
            "resolution": "hour",
            "metric_types": ["visit", "visitor", "impression"],
        }
    },
    "citygrid, CSV": {"citygrid": {"format": "csv"}},
    "mintegral, hourly by five dimensions, UTC-5": {
        "mintegral": {
            "timezone": "-5",
            "reports": [
                {
                    "name": "hourly",
                    "dimensions": ["Offer", "AdType", "Location", "AdOutputType", "Sub"],
                    "time_granularity": "hourly",
                }
            ],
        }
    },
}


def _config(sandbox: t.Any, name: str) -> dict[str, t.Any]:
    if name == "every vendor":
        return all_vendors(sandbox)
    (vendor, settings), = VARIANTS[name].items()  # fmt: skip
    config = CASES[vendor].config(sandbox)
    config[vendor] = {**config[vendor], **settings}
    return config


def _bad_dates(record: dict[str, t.Any], properties: dict[str, t.Any]) -> list[str]:
    """Values of a `date-time` or `date` property that are not ISO 8601 of that kind."""
    bad = []
    for name, value in record.items():
        kind = properties.get(name, {}).get("format")
        if not isinstance(value, str) or kind not in ("date-time", "date"):
            continue
        try:
            if kind == "date":
                dt.date.fromisoformat(value)
            elif "T" not in value or dt.datetime.fromisoformat(value).tzinfo is None:
                bad.append(f"{name}: {value!r} is not a date-time with its offset")
        except ValueError:
            bad.append(f"{name}: {value!r} is not a {kind}")
    return bad


def invalid_records(messages: list[dict]) -> tuple[dict[str, int], list[str]]:
    """Records checked per stream, and what was wrong with any that failed."""
    sdk: dict[str, JSONSchemaValidator] = {}
    draft7: dict[str, jsonschema.Draft7Validator] = {}
    schemas: dict[str, dict] = {}
    checked: dict[str, int] = {}
    problems: list[str] = []
    for message in messages:
        stream = message.get("stream")
        if message["type"] == "SCHEMA":
            schema = message["schema"]
            schemas[stream] = message
            sdk[stream] = JSONSchemaValidator(schema, validate_formats=True)
            draft7[stream] = jsonschema.Draft7Validator(
                schema, format_checker=jsonschema.FormatChecker()
            )
        elif message["type"] == "RECORD":
            record = message["record"]
            checked[stream] = checked.get(stream, 0) + 1
            errors = [str(e.message) for e in draft7[stream].iter_errors(record)]
            try:
                sdk[stream].validate(record)
            except Exception as error:  # any failure is reported
                errors.append(f"SDK: {error}")
            properties = schemas[stream]["schema"]["properties"]
            errors += _bad_dates(record, properties)
            extra = set(record) - set(properties)
            if extra:
                errors.append(f"not in the schema: {sorted(extra)}")
            missing = set(schemas[stream]["key_properties"]) - set(record)
            if missing:
                errors.append(f"key properties missing: {sorted(missing)}")
            if errors and len(problems) < 10:
                problems.append(f"{stream} {json.dumps(record)[:300]}: {errors}")
            elif errors:
                problems.append("...")
    return checked, problems


@pytest.mark.parametrize("name", ["every vendor", *VARIANTS])
def test_every_record_validates_against_its_schema(sandbox, name):
    config = _config(sandbox, name)
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    checked, problems = invalid_records(run.messages)
    assert not problems, problems
    if name == "every vendor":
        expected = written_streams(*STREAMS)
        assert set(checked) == expected, f"streams without records: {expected - set(checked)}"
    else:
        assert checked, "no records"


def test_every_record_validates_under_a_stream_map(sandbox):
    """A stream map changes the SCHEMA and the records alike (the restatement test's map)."""
    maps = {s: {"loaded_from": "'sandbox'"} for s in written_streams(*STREAMS)}
    run = run_tap(all_vendors(sandbox) | {"stream_maps": maps})
    assert run.returncode == 0, run.stderr[-3000:]
    checked, problems = invalid_records(run.messages)
    assert not problems, problems
    assert set(checked) == written_streams(*STREAMS)


def test_an_invalid_record_is_caught():
    """The check itself: a value of the wrong type, a bad date-time, an extra column."""
    schema = {
        "type": "SCHEMA",
        "stream": "s",
        "key_properties": ["id"],
        "schema": {
            "type": "object",
            "properties": {
                "id": {"type": ["integer"]},
                "at": {"type": ["string"], "format": "date-time"},
            },
        },
    }
    records = [
        {"id": "1", "at": "2026-01-01T00:00:00+00:00"},
        {"id": 2, "at": "yesterday"},
        {"id": 3, "at": "2026-01-01T00:00:00+00:00", "other": 1},
        {"at": "2026-01-01T00:00:00+00:00"},
        {"id": 5, "at": "2026-01-01T00:00:00+00:00"},
        {"id": 6, "at": "2026-01-01 00:00:00"},
    ]
    messages = [schema, *({"type": "RECORD", "stream": "s", "record": r} for r in records)]
    checked, problems = invalid_records(messages)
    assert checked == {"s": 6}
    assert len(problems) == 5
    assert not any(p.startswith('s {"id": 5,') for p in problems)
