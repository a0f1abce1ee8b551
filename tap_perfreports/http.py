"""HTTP for every vendor: retries, waits, vendor errors and streamed bodies.

One `HttpClient` per vendor. `fetch()` sends a request, retries what is transient
(429, 5xx, timeouts, dropped or truncated bodies) with the `backoff` library, honours
`Retry-After` and the vendor's rate-limit reset, and returns the body spooled to a
temporary file: memory stays bounded, and a body that was cut off is retried rather
than parsed into partial records. Requests announced in advance (`announce`) are sent
ahead, up to `max_concurrent_requests` at once (see `fetch_ahead.py`). Nothing here
ever logs a URL's query string or a header, so credentials cannot leak through it;
`redact` covers the libraries below.
"""

from __future__ import annotations

import email.utils
import logging
import tempfile
import threading
import time
import typing as t
import urllib.parse
from dataclasses import dataclass, field

import backoff
import requests
from requests.adapters import HTTPAdapter

from tap_perfreports.errors import PermanentError, RequestFailed, TransientError
from tap_perfreports.fetch_ahead import FetchAhead, Request
from tap_perfreports.redact import redact

if t.TYPE_CHECKING:
    from tap_perfreports.vendor import VendorConfig

logger = logging.getLogger("tap_perfreports.http")

#: Per body; with requests fetched ahead, several bodies wait at once.
SPOOL_IN_MEMORY_BYTES = 1024 * 1024
CHUNK_BYTES = 256 * 1024
ERROR_BODY_BYTES = 64 * 1024
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: (connect, read) seconds. The read timeout is between bytes, not for the whole body.
DEFAULT_TIMEOUT = (10.0, 300.0)
#: Against the loopback sandbox: fast retries and short timeouts keep failure tests quick.
SANDBOX_TIMEOUT = (2.0, 3.0)
SANDBOX_RETRY_BASE_SECONDS = 0.05

Params = t.Sequence[tuple[str, str | int]] | t.Mapping[str, t.Any]
Headers = t.Mapping[str, str]


@dataclass(frozen=True)
class Backoff:
    """Exponential waits, capped: between tries of a failing request (at most `max_tries`
    tries) and between polls of a report job."""

    first_seconds: float = 1.0
    factor: float = 2.0
    cap_seconds: float = 120.0
    max_tries: int = 8

    def wait(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th try or poll (1-based)."""
        return float(min(self.cap_seconds, self.first_seconds * self.factor ** max(0, attempt - 1)))


class Pacer(t.Protocol):
    """Spaces requests to stay inside a vendor's rate limit (see `pacing.py`)."""

    def wait_turn(self) -> None: ...

    def observe(self, response: requests.Response | None) -> None:
        """After each request: its response, or None if it got no answer."""


@dataclass
class VendorErrors:
    """How a vendor reports errors; each vendor passes its own functions."""

    #: The vendor's message from an error body (JSON string, XML <error>, ...).
    describe: t.Callable[[int, bytes], str] = lambda status, body: body.decode(
        "utf-8", "replace"
    ).strip()[:500]
    #: What the user should do about a permanent failure with this status.
    hint: t.Callable[[int], str] = lambda status: ""
    #: Raise Transient/PermanentError if a 200 body's first bytes are a vendor error.
    check_body: t.Callable[[bytes], None] = lambda head: None
    #: Seconds to wait before retrying this response, from its headers.
    retry_after: t.Callable[[requests.Response], float | None] = field(
        default_factory=lambda: retry_after_header
    )


def retry_after_header(response: requests.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class HttpClient:
    """Sends one vendor's requests; thread-safe, one connection pool per vendor."""

    def __init__(
        self,
        vendor: str,
        *,
        errors: VendorErrors | None = None,
        retry: Backoff | None = None,
        pacer: Pacer | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_concurrent_requests: int = 1,
    ) -> None:
        self.vendor = vendor
        self.errors = errors or VendorErrors()
        self.retry = retry or Backoff()
        self.pacer = pacer
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "tap-perfreports"
        # requests reads proxies and CA bundle from the environment on every request (a
        # quarter of its cost on loopback); they are read once per origin instead.
        self.session.trust_env = False
        self._environment: dict[tuple[str, str], dict[str, t.Any]] = {}
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.ahead = FetchAhead(self._fetch_now, max_concurrent_requests)
        self.session.mount("https://", HTTPAdapter(pool_maxsize=max(10, max_concurrent_requests)))
        self.session.mount("http://", HTTPAdapter(pool_maxsize=max(10, max_concurrent_requests)))

    @classmethod
    def for_vendor(
        cls, vendor: VendorConfig, name: str, errors: VendorErrors, pacer: Pacer | None = None
    ) -> HttpClient:
        """The client for one vendor's settings: its concurrency, and in sandbox mode
        quick retries and timeouts."""
        return cls(
            name,
            errors=errors,
            retry=Backoff(first_seconds=SANDBOX_RETRY_BASE_SECONDS) if vendor.sandbox else None,
            pacer=pacer,
            timeout=SANDBOX_TIMEOUT if vendor.sandbox else DEFAULT_TIMEOUT,
            max_concurrent_requests=vendor.max_concurrent_requests,
        )

    def request(
        self,
        url: str,
        *,
        where: str,
        params: Params | None = None,
        headers: Headers | t.Callable[[], Headers] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Request:
        """Describe a GET for `fetch` or `announce`."""
        if isinstance(params, t.Mapping):
            params = list(params.items())
        return Request(url, where, tuple(params or ()), headers, auth)

    def announce(self, requests: t.Iterable[Request]) -> None:
        """The requests the caller will fetch next, in order: some are sent ahead (see
        `fetch_ahead`). Without announcements, or with max_concurrent_requests 1, every
        request is sent when it is fetched."""
        self.ahead.announce(requests)

    def fetch(self, url: str, **request: t.Any) -> t.IO[bytes]:
        """GET `url` and return its whole body as a readable binary file.

        `request` holds `request()`'s options: `where` names the stream, partition and
        window for error messages; `headers` may be a function, called afresh for every
        attempt (time-bound tokens). Raises RequestFailed when the vendor refuses or
        retries are exhausted.
        """
        return self.send(self.request(url, **request))

    def send(self, request: Request) -> t.IO[bytes]:
        """`fetch` for a `request` built earlier (and maybe announced, so sent already)."""
        return self.ahead.take(request)

    def _fetch_now(self, request: Request) -> t.IO[bytes]:
        """Send `request`, retrying what is transient; see `fetch`."""
        url, where, params = request.url, request.where, request.params
        headers, auth = request.headers, request.auth
        attempt_no = 0

        def attempt() -> t.IO[bytes] | TransientError:
            nonlocal attempt_no
            attempt_no += 1
            try:
                return self._send_once(url, params, headers, auth)
            except TransientError as exc:
                if exc.wait_seconds is None:
                    exc.wait_seconds = self.retry.wait(attempt_no)
                return exc

        def on_backoff(details: t.Any) -> None:
            exc = details["value"]
            logger.warning(
                "%s: %s; retry %d of %d in %.1fs",
                where,
                redact(str(exc)),
                details["tries"],
                self.retry.max_tries - 1,
                details["wait"],
            )

        retrying = backoff.on_predicate(
            backoff.runtime,
            predicate=lambda result: isinstance(result, TransientError),
            value=lambda exc: exc.wait_seconds,
            max_tries=self.retry.max_tries,
            jitter=None,
            on_backoff=on_backoff,
            logger=None,
        )(attempt)
        try:
            result = retrying()
            if not isinstance(result, TransientError) and _is_empty(result):
                # Empty is "no rows" in some formats, and also what a glitching proxy sends.
                logger.info("%s: the answer was empty; asking once more before believing it", where)
                result.close()
                result = retrying()
        except PermanentError as exc:
            message = str(exc).rstrip()
            if not message.endswith((".", "!", "?")):
                message += "."
            hint = f" {exc.hint}" if exc.hint else ""
            raise RequestFailed(redact(f"{where}: {message}{hint}"), status=exc.status) from None
        if isinstance(result, TransientError):
            raise RequestFailed(
                redact(
                    f"{where}: {result} (gave up after {self.retry.max_tries} tries). "
                    f"The {self.vendor} API kept failing; run again later, the state "
                    "resumes from the last complete window."
                )
            )
        return result

    def _send_once(
        self,
        url: str,
        params: Params | None,
        headers: Headers | t.Callable[[], Headers] | None,
        auth: tuple[str, str] | None,
    ) -> t.IO[bytes]:
        if self.pacer is not None:
            self.pacer.wait_turn()
        request_headers = headers() if callable(headers) else headers
        with self._lock:
            self.requests_sent += 1
        try:
            response = self.session.get(
                url,
                params=params,
                headers=request_headers,
                auth=auth,
                stream=True,
                timeout=self.timeout,
                **self.environment_settings(url),
            )
        except requests.RequestException as exc:
            if self.pacer is not None:
                self.pacer.observe(None)
            if isinstance(exc, requests.Timeout):
                raise TransientError("the request timed out") from None
            raise TransientError(f"connection failed ({type(exc).__name__})") from None
        with response:
            if self.pacer is not None:
                self.pacer.observe(response)
            if response.status_code >= 400:
                self._raise_for_status(response)
            return self._spool(response)

    def environment_settings(self, url: str) -> dict[str, t.Any]:
        """Proxies and `verify` for `url`'s origin from the environment (HTTPS_PROXY,
        NO_PROXY, REQUESTS_CA_BUNDLE...), as requests would find them."""
        origin = urllib.parse.urlsplit(url)[:2]
        settings = self._environment.get(origin)
        if settings is None:
            with requests.Session() as session:
                found = session.merge_environment_settings(url, {}, None, None, None)
            settings = {"proxies": found["proxies"], "verify": found["verify"]}
            self._environment[origin] = settings
        return settings

    def _raise_for_status(self, response: requests.Response) -> t.NoReturn:
        status = response.status_code
        try:
            body = response.raw.read(ERROR_BODY_BYTES, decode_content=True) or b""
        except Exception:
            body = b""
        message = f"HTTP {status}"
        described = self.errors.describe(status, body)
        if described:
            message += f": {described}"
        if status in TRANSIENT_STATUSES or status >= 500:
            raise TransientError(message, wait_seconds=self.errors.retry_after(response))
        raise PermanentError(message, hint=self.errors.hint(status), status=status)

    def _spool(self, response: requests.Response) -> t.IO[bytes]:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        received = 0
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                if received == 0:
                    self.errors.check_body(chunk[:4096])
                spool.write(chunk)
                received += len(chunk)
        except (requests.RequestException, OSError) as exc:
            spool.close()
            raise TransientError(
                f"the response was cut off after {received} bytes ({type(exc).__name__})"
            ) from None
        except BaseException:
            spool.close()
            raise
        expected = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding")
        if expected and not encoded and expected.isdigit() and int(expected) != received:
            spool.close()
            raise TransientError(
                f"the response was cut off: {received} of {expected} bytes received"
            )
        if received == 0:
            self.errors.check_body(b"")
        spool.seek(0)
        return t.cast(t.IO[bytes], spool)


def _is_empty(body: t.IO[bytes]) -> bool:
    if body.read(1):
        body.seek(0)
        return False
    return True
