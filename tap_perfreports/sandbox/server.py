"""A real HTTP server emulating the five vendor APIs on loopback.

Routes: `/<vendor key>/<the vendor's documented path>` for each emulator, and
`/_sandbox/...` for tests run in another process: `GET ledger`, `POST faults`,
`POST restate` (`{"since": "YYYY-MM-DD"}`, answered `{"revision": n}`) and `POST reset`
(ledger, faults and restatements). In-process tests use `SandboxServer.ledger`, `.faults`
and `.restate()` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import socket
import struct
import sys
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tap_perfreports.sandbox.emulator import SandboxRequest, SandboxResponse
from tap_perfreports.sandbox.faults import DATA_FAULTS, Fault, FaultPlan
from tap_perfreports.sandbox.ledger import Ledger, LedgerRequest
from tap_perfreports.sandbox.restatement import Restatements

if t.TYPE_CHECKING:
    from tap_perfreports.sandbox.emulator import Emulator


class _Dropped(Exception):
    """The fault plan closed the connection on purpose."""


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], *, record_keys: bool = True, cache: bool = False
    ) -> None:
        from tap_perfreports.sandbox import build_emulators

        super().__init__(address, _Handler)
        self.ledger = Ledger(record_keys=record_keys)
        self.faults = FaultPlan()
        self.restatements = Restatements()
        self.emulators: dict[str, Emulator] = build_emulators(self.restatements)
        #: Benchmarks: answers generated once and served again from memory, per revisions.
        self.cache: dict[tuple, SandboxResponse] | None = {} if cache else None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, vendor: str) -> str:
        """The api_url the tap should use for `vendor` against this server."""
        return f"{self.base_url}/{vendor}{self.emulators[vendor].base_path}"

    def restate(self, since: dt.date) -> int:
        """Every vendor restates the days from `since` on: they serve new values from now
        on. Returns the number of restatements so far (see `restatement.py`)."""
        return self.restatements.restate(since)

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        """A client that hung up (a tap killed, a request fetched ahead and dropped) is
        expected; anything else is still printed."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def start_sandbox(port: int = 0, *, record_keys: bool = True) -> SandboxServer:
    """Start a sandbox on 127.0.0.1 in a background thread (port 0: a free one)."""
    return SandboxServer(("127.0.0.1", port), record_keys=record_keys).start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Headers and body go out in separate writes; with Nagle's algorithm on, a kept-alive
    #: connection then waits for the client's delayed ACK (40 ms) on every response.
    disable_nagle_algorithm = True
    server: SandboxServer

    def log_message(self, format: str, *args: t.Any) -> None:
        """Silent: request lines carry credentials in some vendors' query strings."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        vendor, _, rest = split.path.lstrip("/").partition("/")
        if vendor == "_sandbox":
            self._control(method, rest)
            return
        emulator = self.server.emulators.get(vendor)
        if emulator is None:
            self._send(SandboxResponse(404, b'"Unknown sandbox route"'))
            return
        request = SandboxRequest(
            method=method,
            path="/" + rest,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=t.cast(t.Mapping[str, str], self.headers),  # case-insensitive
        )
        fault = self.server.faults.take(vendor, request.path, request.query)
        latency = self.server.faults.latency
        if latency:
            time.sleep(latency)
        response = None
        delivered = False
        try:
            response = self._respond(emulator, request, fault)
            cut = fault.after_bytes if fault and fault.kind in ("reset", "truncate") else None
            self._send(response, cut_after=cut, reset=fault is not None and fault.kind == "reset")
            delivered = True
        except _Dropped:
            self._abort(reset=False)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up: nothing was delivered
        finally:
            if delivered and response is not None and response.status < 400:
                for served in response.served:
                    self.server.ledger.commit(served.table, served.keys)
            self.server.ledger.log_request(
                LedgerRequest(
                    vendor=vendor,
                    path=request.path,
                    query=request.query,
                    status=response.status if response is not None else 0,
                    rows=sum(len(s.keys) for s in response.served) if response else 0,
                    fault=fault.kind if fault is not None else None,
                )
            )

    def _respond(
        self, emulator: Emulator, request: SandboxRequest, fault: Fault | None
    ) -> SandboxResponse:
        """The emulator's answer, or the one the fault plan substitutes for it."""
        if fault is None:
            return self._answer(emulator, request)
        if fault.action is not None:
            fault.action(self.client_address)
        if fault.kind == "delay":
            time.sleep(fault.delay)
        if fault.kind == "drop":
            raise _Dropped
        if fault.kind == "status":
            response = emulator.error_response(fault.status)
            response.headers.update(fault.headers)
            if fault.body is not None:
                response.body = fault.body
            return response
        if fault.kind == "body":
            return SandboxResponse(200, fault.body or b"", headers=fault.headers)
        if fault.kind in DATA_FAULTS:  # never from the cache, nor into it
            request.data_fault = fault.kind
            return emulator.handle(request)
        return self._answer(emulator, request)

    def _answer(self, emulator: Emulator, request: SandboxRequest) -> SandboxResponse:
        cache = self.server.cache
        if cache is None or not emulator.cacheable(request):
            return emulator.handle(request)
        query = tuple((name, tuple(values)) for name, values in sorted(request.query.items()))
        revisions = self.server.restatements.current
        key = (emulator.key, request.path, query, revisions)
        if key not in cache:
            response = emulator.handle(request)
            if response.status != 200 or self.server.restatements.current != revisions:
                return response  # an error, or an answer that a restatement overtook
            if not isinstance(response.body, (bytes, bytearray)):
                response.body = b"".join(response.body)
            cache[key] = response
        return cache[key]

    def _send(
        self, response: SandboxResponse, *, cut_after: int | None = None, reset: bool = False
    ) -> None:
        body = response.body
        chunked = not isinstance(body, (bytes, bytearray))
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(t.cast(bytes, body))))
        self.end_headers()
        sent = 0
        chunks = body if chunked else [body]
        for chunk in t.cast(t.Iterable[bytes], chunks):
            if cut_after is not None and sent + len(chunk) >= cut_after:
                part = chunk[: max(0, cut_after - sent)]
                if part:
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part if chunked else part)
                self.wfile.flush()
                self._abort(reset=reset)
                raise _Dropped
            if chunk:
                self.wfile.write(
                    f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
                )
            sent += len(chunk)
        if cut_after is not None:
            self.wfile.flush()
            self._abort(reset=reset)
            raise _Dropped
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _abort(self, *, reset: bool) -> None:
        """Close the connection; with `reset`, as a TCP reset rather than an orderly end."""
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _control(self, method: str, action: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if method == "GET" and action == "ledger":
            body = json.dumps(self.server.ledger.snapshot()).encode()
        elif method == "POST" and action == "faults":
            for spec in payload if isinstance(payload, list) else [payload]:
                if "latency" in spec:
                    self.server.faults.latency = float(spec["latency"])
                else:
                    self.server.faults.add(Fault(**spec))
            body = b'"ok"'
        elif method == "POST" and action == "restate":
            try:
                since = dt.date.fromisoformat(payload["since"])
            except (KeyError, TypeError, ValueError):
                self._send(SandboxResponse(400, b'"since must be a date, YYYY-MM-DD"'))
                return
            body = json.dumps({"revision": self.server.restate(since)}).encode()
        elif method == "POST" and action == "reset":
            self.server.ledger.reset()
            self.server.faults.clear()
            self.server.restatements.reset()
            body = b'"ok"'
        else:
            self._send(SandboxResponse(404, b'"Unknown control route"'))
            return
        self._send(SandboxResponse(200, body))


def main() -> None:
    """Console script `tap-perfreports-sandbox`: serve the sandbox until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the tap-perfreports sandbox APIs.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--no-keys",
        action="store_true",
        help="count served rows without remembering their keys (for large benchmarks)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="multiply the data volume of the emulators that support it (benchmarks)",
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="keep every report answer in memory and serve it again (benchmarks)",
    )
    args = parser.parse_args()
    server = SandboxServer(("127.0.0.1", args.port), record_keys=not args.no_keys, cache=args.cache)
    for emulator in server.emulators.values():
        if hasattr(emulator, "scale"):
            emulator.scale = args.scale  # type: ignore[attr-defined]
    print(f"tap-perfreports sandbox on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
