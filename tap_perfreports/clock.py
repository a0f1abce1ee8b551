"""The tap's clock: the real time, or in sandbox mode the instant a test freezes it at.

`TAP_PERFREPORTS_SANDBOX_NOW` (an ISO date-time with a UTC offset) moves the whole
sandbox pipeline to a chosen moment: the tap's default end dates and vendor calendars,
and the emulators' data. It is ignored outside sandbox mode.
"""

from __future__ import annotations

import datetime as dt
import os

from tap_perfreports.errors import ConfigError

SANDBOX_NOW_ENV = "TAP_PERFREPORTS_SANDBOX_NOW"


def frozen_now() -> dt.datetime | None:
    """The instant `SANDBOX_NOW_ENV` freezes the clock at, if set; ValueError if it is
    not a date-time with a UTC offset (a local time would depend on the machine)."""
    text = os.environ.get(SANDBOX_NOW_ENV)
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{SANDBOX_NOW_ENV}={text!r} has no UTC offset")
    return moment


def now(*, sandbox: bool) -> dt.datetime:
    """The current instant: frozen by `SANDBOX_NOW_ENV` in sandbox mode, else real."""
    if not sandbox:
        return dt.datetime.now(dt.UTC)
    try:
        return frozen_now() or dt.datetime.now(dt.UTC)
    except ValueError:
        raise ConfigError(
            SANDBOX_NOW_ENV, "an ISO date-time with a UTC offset, such as 2026-11-20T12:00-08:00"
        ) from None
