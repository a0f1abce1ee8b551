"""Keeps credentials out of every log line, exception text and traceback.

Secrets are registered once, from the config, before anything can log them. Redaction
happens where log records are created (a log-record factory) rather than in handlers,
so it covers every library's logger: the SDK's, urllib3's debug lines and the `backoff`
library's retry messages, which print the full URL of a failed request.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
import traceback
import typing as t
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SECRET_LENGTH = 3


class Redactor:
    """Replaces every registered secret, in every encoding it travels in, with a mask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._needles: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secret: object) -> None:
        """Register a secret in its plain, URL-encoded and basic-auth forms."""
        text = str(secret) if secret is not None else ""
        if len(text) < _MIN_SECRET_LENGTH:
            return
        forms = {text, quote(text, safe=""), quote_plus(text), quote(text)}
        with self._lock:
            self._needles.update(f for f in forms if f)
            self._pattern = re.compile(
                "|".join(re.escape(n) for n in sorted(self._needles, key=len, reverse=True))
            )

    def add_basic_auth(self, username: str, password: str) -> None:
        """Register the Authorization header value built from a login pair."""
        self.add(password)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.add(token)

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)


redact = Redactor()


def _redacting_factory(
    original: t.Callable[..., logging.LogRecord],
) -> t.Callable[..., logging.LogRecord]:
    def factory(*args: t.Any, **kwargs: t.Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return record

    factory.__redacting__ = True  # type: ignore[attr-defined]
    return factory


def _redacting_excepthook(exc_type: t.Any, exc: t.Any, tb: t.Any) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))


def install() -> None:
    """Redact all logging and uncaught tracebacks in this process (idempotent)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "__redacting__", False):
        logging.setLogRecordFactory(_redacting_factory(current))
    sys.excepthook = _redacting_excepthook
