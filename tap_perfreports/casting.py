"""Typed parsing: vendor values become their schema types once, in the parser.

The streams turn off the SDK's per-record type conformance, so these casts are the only
place where types are decided. A value that cannot be cast is a ParseError, never a
silently wrong record.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import typing as t

from tap_perfreports.errors import ParseError

Cast = t.Callable[[t.Any], t.Any]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(name: str) -> str:
    """`triggerDatetime` -> `trigger_datetime`, `Offer Id` -> `offer_id`, `CTR` -> `ctr`."""
    spaced = _CAMEL_BOUNDARY.sub("_", name.strip())
    return _NON_WORD.sub("_", spaced).strip("_").lower()


def _blank(value: t.Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_int(value: t.Any) -> int | None:
    """An integer count; vendors send `476`, `"476"` or `476.0`."""
    if type(value) is int:  # the common cases first: this runs for every value
        return value
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ParseError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParseError(f"expected an integer, got {value!r}") from None
    if not number.is_integer():
        raise ParseError(f"expected an integer, got {value!r}")
    return int(number)


def to_number(value: t.Any) -> float | None:
    """A decimal metric as a float (JSON number)."""
    if type(value) is float and math.isfinite(value):
        return value
    if type(value) is str:  # text formats: most values are plain numbers
        try:
            number = float(value)
        except ValueError:
            pass  # blank, or not a number: below
        else:
            if math.isfinite(number):
                return number
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ParseError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParseError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ParseError(f"expected a finite number, got {value!r}")
    return number


def to_string(value: t.Any) -> str | None:
    if type(value) is str:
        return value
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ParseError(f"expected a scalar, got {type(value).__name__}")
    return str(value)


def to_bool(value: t.Any) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ParseError(f"expected a boolean, got {value!r}")


def to_date(value: t.Any) -> str | None:
    """An ISO date from `2022-04-18`, `20220418` or the date part of a date-time."""
    if _blank(value):
        return None
    text = str(value).strip()
    try:
        if len(text) == 8 and text.isdigit():
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ParseError(f"expected a date, got {value!r}") from None


def datetime_caster(tz: dt.tzinfo = dt.UTC) -> Cast:
    """Cast vendor date-times (`2014-01-01 00:00:00`, ISO, or Unix seconds) to UTC ISO text.

    Naive values are local times in `tz` (the zone the request asked the vendor for).
    """

    def cast(value: t.Any) -> str | None:
        if _blank(value):
            return None
        try:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                moment = dt.datetime.fromtimestamp(value, dt.UTC)
            else:
                moment = dt.datetime.fromisoformat(str(value).strip())
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=tz)
        except (ValueError, OverflowError, OSError):
            raise ParseError(f"expected a date-time, got {value!r}") from None
        return moment.astimezone(dt.UTC).isoformat()

    return cast


to_datetime = datetime_caster()

_CASTS_BY_FORMAT = {"date-time": to_datetime, "date": to_date}
_CASTS_BY_TYPE = {
    "integer": to_int,
    "number": to_number,
    "boolean": to_bool,
    "string": to_string,
}


def cast_for(property_schema: dict) -> Cast:
    """The cast for one JSON-schema property."""
    fmt = property_schema.get("format")
    if fmt in _CASTS_BY_FORMAT:
        return _CASTS_BY_FORMAT[fmt]
    types = property_schema.get("type", "string")
    types = [types] if isinstance(types, str) else types
    for name in ("integer", "number", "boolean", "string"):
        if name in types:
            return _CASTS_BY_TYPE[name]
    return to_string


def casts_for(schema: dict) -> dict[str, Cast]:
    """Field name -> cast, for every property of a stream schema."""
    return {name: cast_for(prop) for name, prop in schema["properties"].items()}
