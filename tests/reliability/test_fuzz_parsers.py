"""Every parser, fuzzed: arbitrary bytes, and truncations and mutations of the documented
examples, either give records whose every value has its schema's type, or raise the tap's
own ParseError. Any other exception, or a mistyped value, is a failure."""

from __future__ import annotations

import datetime as dt
import io
import typing as t

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_perfreports.casting import cast_for, datetime_caster
from tap_perfreports.errors import ParseError
from tap_perfreports.vendors import adobe_target, citygrid, infinity, mintegral, plumvoice
from tests import reliability_table
from tests.helpers import fixture_bytes

pytestmark = pytest.mark.reliability

EXAMPLES = 1500


def http_body(message: bytes) -> bytes:
    """The body of a documented HTTP response (headers, a blank line, the body)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in message:
            return message.split(separator, 1)[1]
    return message


# Each parser as: bytes -> records (list of (schema, record)), raising ParseError.

#: The doc's display example (`act`, `visitorId`) as an event report, which always asks
#: for rowId and triggerDatetime too.
INFINITY_REPORT = infinity.InfinityReport(
    {"name": "x", "route": "triggers/all", "display": ["act", "visitorId"]}
)
INFINITY_SCHEMA = INFINITY_REPORT.schema()
INFINITY_CASTS = {name: cast_for(p) for name, p in INFINITY_SCHEMA["properties"].items()}
INFINITY_CASTS["trigger_datetime"] = datetime_caster(dt.UTC)


def parse_infinity(data: bytes) -> list[tuple[dict, dict]]:
    rows = infinity.parse_lines(
        io.BytesIO(data),
        INFINITY_REPORT.columns,
        INFINITY_CASTS,
        INFINITY_REPORT.required_columns(),
    )
    return [(INFINITY_SCHEMA, row) for row in rows]


def parse_plumvoice(data: bytes) -> list[tuple[dict, dict]]:
    return [(plumvoice.SCHEMA, row) for row in plumvoice.parse_performance(io.BytesIO(data))]


def parse_adobe(data: bytes) -> list[tuple[dict, dict]]:
    chunks = [data[i : i + 97] for i in range(0, len(data), 97)]  # chunk edges everywhere
    reader = adobe_target.ReportReader(chunks)
    return [
        (adobe_target.STREAMS[stream][0], adobe_target.typed(stream, row))
        for stream, row in reader.rows()
    ]


def parse_citygrid_json(data: bytes) -> list[tuple[dict, dict]]:
    view = citygrid.VIEW_TYPES["ads"]
    return [(view.schema(), row) for row in citygrid.parse_json(io.BytesIO(data), view).rows]


def parse_citygrid_csv(data: bytes) -> list[tuple[dict, dict]]:
    view = citygrid.VIEW_TYPES["ads"]
    return [(view.schema(), row) for row in citygrid.parse_csv(io.BytesIO(data), view)]


MINTEGRAL_REPORT = mintegral.MintegralReport.from_spec(mintegral.DEFAULT_REPORTS[0])


def parse_mintegral(data: bytes) -> list[tuple[dict, dict]]:
    lines = io.BytesIO(data).readlines()
    schema = MINTEGRAL_REPORT.schema()
    return [(schema, row) for row in mintegral.parse_tsv(lines, MINTEGRAL_REPORT)]


def parse_mintegral_answer(data: bytes) -> list[tuple[dict, dict]]:
    mintegral.parse_answer(data)
    return []


PARSERS: dict[str, tuple[t.Callable[[bytes], list], list[bytes]]] = {
    "infinity JSON lines": (
        parse_infinity,
        [
            fixture_bytes("infinity", "display_alias.jsonl"),  # no rowId: a parse error
            # the same rows as the API sends them to this tap (rowId requested)
            b"".join(
                b'{"rowId":%d,' % number + line[1:]
                for number, line in enumerate(
                    fixture_bytes("infinity", "display_alias.jsonl").splitlines(keepends=True)
                )
            ),
        ],
    ),
    "plumvoice JSON and XML": (
        parse_plumvoice,
        [
            http_body(fixture_bytes("plumvoice", "performance_200.json.http")),
            http_body(fixture_bytes("plumvoice", "performance_200.xml.http")),
        ],
    ),
    "adobe_target XML": (
        parse_adobe,
        [
            fixture_bytes("adobe_target", "doc_report.xml"),  # `YYYY` dates: a parse error
            fixture_bytes("adobe_target", "doc_report.xml").replace(b"YYYY-", b"2018-"),
        ],
    ),
    "citygrid JSON": (parse_citygrid_json, [fixture_bytes("citygrid", "ads.json")]),
    "citygrid CSV": (parse_citygrid_csv, [fixture_bytes("citygrid", "ads.csv")]),
    "mintegral TSV": (parse_mintegral, [fixture_bytes("mintegral", "doc_examples.tsv")]),
    "mintegral JSON answers": (
        parse_mintegral_answer,
        [fixture_bytes("mintegral", "response_example.json")],
    ),
}


# What a well-typed record is


def mistyped(record: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> list[str]:
    """The fields whose value does not have the schema's type (strictly: no bool for int)."""
    wrong = []
    properties = schema["properties"]
    for name, value in record.items():
        prop = properties.get(name)
        if prop is None:
            wrong.append(f"{name}: not in the schema")
            continue
        types = prop.get("type", [])
        types = [types] if isinstance(types, str) else types
        if not any(_is(value, kind, prop.get("format")) for kind in types):
            wrong.append(f"{name}: {value!r} is not {types}")
    return wrong


def _is(value: t.Any, kind: str, fmt: str | None) -> bool:  # noqa: PLR0911 - one per type
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        if not isinstance(value, str):
            return False
        try:
            if fmt == "date":
                dt.date.fromisoformat(value)
            elif fmt == "date-time":
                dt.datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return kind in ("object", "array")


# The properties


def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A documented example, cut short, or with bytes flipped, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "raw"]))
    if how == "raw":
        return draw(st.binary(max_size=400))
    if not data:
        return bytes(data)
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if how == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@pytest.mark.parametrize("name", list(PARSERS))
def test_parser_yields_well_typed_records_or_its_own_parse_error(name: str) -> None:
    parse, seeds = PARSERS[name]
    parsed = 0
    for seed in seeds:  # the examples parse into well-typed records (or the tap's error)
        try:
            records = parse(seed)
        except ParseError:
            continue
        parsed += len(records)
        for schema, record in records:
            assert mistyped(record, schema) == []
    assert parsed or name == "mintegral JSON answers", "no example gives a record"
    counts = {"examples": 0, "unhandled": 0, "records": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        payload = data.draw(st.composite(lambda draw: mutated(draw, seeds))())
        counts["examples"] += 1
        try:
            records = parse(payload)
        except ParseError:
            return
        except Exception:
            counts["unhandled"] += 1
            raise
        counts["records"] += len(records)
        for schema, record in records:
            assert mistyped(record, schema) == [], payload

    try:
        check()
    finally:
        reliability_table.record(
            f"fuzz: {name}", runs=counts["examples"], unhandled=counts["unhandled"]
        )


def test_an_event_row_without_its_row_id_is_an_error_not_a_null_key() -> None:
    """Found by the fuzzer: a row missing part of the primary key would land with null."""
    with pytest.raises(ParseError, match="line 1 has no row_id"):
        parse_infinity(fixture_bytes("infinity", "display_alias.jsonl"))


@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (parse_plumvoice, b'{"\x80calls": {}}'),
        (parse_citygrid_json, b'{"\x80view_type": "ads"}'),
        (parse_citygrid_csv, b"\x80Date,Impressions\n"),
        (parse_mintegral, b"Date\t\x80Offer\n"),
        (parse_infinity, b'{"rowId": 1, "act": "\x80"}\n'),
    ],
)
def test_bytes_that_are_not_utf8_are_a_parse_error(parse, payload) -> None:
    """Found by the fuzzer: these raised UnicodeDecodeError, a traceback for the user."""
    with pytest.raises(ParseError):
        parse(payload)
