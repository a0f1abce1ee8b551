"""The tap's own exceptions.

Every failure a user can cause or a vendor can report is one of these: the CLI prints
its message as one line, without a traceback, and exits non-zero. Anything else is a bug.
"""

from __future__ import annotations

import contextlib
import signal
import typing as t


class TapPerfReportsError(Exception):
    """An expected failure whose message says what went wrong and what to do."""


class ConfigError(TapPerfReportsError):
    """A setting is wrong; raised before any request is sent."""

    def __init__(self, setting: str, rule: str) -> None:
        super().__init__(f"Invalid setting '{setting}': {rule}")
        self.setting = setting


class ParseError(TapPerfReportsError):
    """A vendor payload could not be read as the documented format."""


@contextlib.contextmanager
def reading(
    where: str, what: str = "response", *, keep: tuple[type[ParseError], ...] = ()
) -> t.Iterator[None]:
    """A payload that cannot be read names where it came from (stream, partition and
    window, or the request). Errors of the `keep` kinds pass unchanged."""
    try:
        yield
    except keep:
        raise
    except ParseError as exc:
        raise ParseError(f"{where}: unreadable {what} ({exc}).") from None


class RequestFailed(TapPerfReportsError):
    """A vendor request failed for good: the message names stream, partition and window."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status of the refusal, when the vendor answered with one.
        self.status = status


class ReconciliationFailed(TapPerfReportsError):
    """With `reconcile: fail`, a window's rows do not add up to the vendor's totals: the
    run stops before the window's STATE, so the next run extracts it again."""


class RunInterrupted(BaseException):
    """SIGINT or SIGTERM arrived: the run stops where it is and exits 128 + the signal.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way
    out mistakes it for a failure to report or retry.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, a dropped or truncated response)."""

    def __init__(self, message: str, *, wait_seconds: float | None = None) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class PermanentError(Exception):
    """A vendor answer that retrying cannot fix (bad credentials, bad parameter)."""

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        self.status = status
