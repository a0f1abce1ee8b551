"""Fetching ahead: send the requests a stream will need next while it parses the current one.

A backfill is a long sequence of requests whose order is known in advance (partitions x
windows). When the network, not parsing, is the bottleneck, a stream announces that
sequence and up to `max_in_flight` of its requests are sent ahead on worker threads
(requests releases the GIL while waiting). The stream still takes each body in its own
order, so records, checkpoints and errors come out exactly as in a sequential run: a
request that failed in the background raises when, and only when, its turn comes.

Requests taken out of the announced order skip those announced before them (they are
dropped, their bodies closed); a request never announced is simply fetched at once. At
most `max_in_flight` requests are on the wire at any moment, ahead or not.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import typing as t
from concurrent.futures import Future
from dataclasses import dataclass, field

Params = tuple[tuple[str, t.Any], ...]
Headers = t.Mapping[str, str]


@dataclass(frozen=True)
class Request:
    """One GET: what to send, and `where` it belongs (stream, partition, window) for errors."""

    url: str
    where: str
    params: Params = ()
    headers: Headers | t.Callable[[], Headers] | None = field(default=None, compare=False)
    auth: tuple[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, Params]:
        return (self.url, self.params)


class FetchAhead:
    """Sends announced requests ahead on daemon threads; hands bodies back in order.

    Daemon threads: a run that fails must exit at once, not wait for a request it will
    never use to finish retrying.
    """

    def __init__(self, fetch: t.Callable[[Request], t.IO[bytes]], max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._fetch = fetch
        self.max_in_flight = max_in_flight
        self._wire = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._announced: collections.deque[Request] = collections.deque()
        self._ahead: collections.OrderedDict[tuple, Future[t.IO[bytes]]] = collections.OrderedDict()
        self._work: queue.SimpleQueue[tuple[Request, Future[t.IO[bytes]]]] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []

    def announce(self, requests: t.Iterable[Request]) -> None:
        """The requests the caller will take next, in order; replaces earlier announcements."""
        if self.max_in_flight == 1:
            return  # sequential: nothing is sent ahead
        with self._lock:
            self._drop_all()
            self._announced.extend(requests)
            self._send_ahead()

    def take(self, request: Request) -> t.IO[bytes]:
        """The body of `request`: sent ahead already, or fetched now."""
        with self._lock:
            future = self._claim(request.key)
            self._send_ahead()
        if future is not None:
            return future.result()
        with self._wire:
            return self._fetch(request)

    def _claim(self, key: tuple) -> Future[t.IO[bytes]] | None:
        """Take `key`'s future if it was sent ahead; drop what was announced before it."""
        if key in self._ahead:
            while True:
                first, future = self._ahead.popitem(last=False)
                if first == key:
                    return future
                _drop(future)
        if any(request.key == key for request in self._announced):
            self._drop_all(keep_after=key)
        return None

    def _drop_all(self, keep_after: tuple | None = None) -> None:
        """Forget every request sent ahead, and the announced ones up to `keep_after`."""
        while self._ahead:
            _drop(self._ahead.popitem(last=False)[1])
        if keep_after is None:
            self._announced.clear()
            return
        while self._announced:
            if self._announced.popleft().key == keep_after:
                return

    def _send_ahead(self) -> None:
        while self._announced and len(self._ahead) < self.max_in_flight:
            request = self._announced.popleft()
            if request.key in self._ahead:
                continue
            future: Future[t.IO[bytes]] = Future()
            self._ahead[request.key] = future
            self._work.put((request, future))
            if len(self._workers) < self.max_in_flight:
                worker = threading.Thread(target=self._worker, name="fetch-ahead", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _worker(self) -> None:
        while True:
            request, future = self._work.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with self._wire:
                    body = self._fetch(request)
            except BaseException as exc:  # re-raised in the taker's thread
                future.set_exception(exc)
            else:
                future.set_result(body)


def _drop(future: Future[t.IO[bytes]]) -> None:
    """Cancel a request nobody will take, or close its body once it arrives."""
    if future.cancel():
        return

    def close(done: Future[t.IO[bytes]]) -> None:
        if done.exception() is None:
            with contextlib.suppress(OSError):
                done.result().close()

    future.add_done_callback(close)
