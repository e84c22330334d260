"""``EventEyeClient``: buffers events and sends them in batches from a background thread."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Unpack

import httpx

from eventeye.client._buffer import Buffer
from eventeye.client._common import headers, make_event, make_policy, report_failure
from eventeye.client._config import ClientConfig, ClientOptions
from eventeye.client._delivery import ABORTED, Post, Reply, Report, deliver
from eventeye.client._events import Queued, prepare
from eventeye.client._exceptions import BufferFull, ClientClosed
from eventeye.client._models import ClientStats

logger = logging.getLogger("eventeye.client")


class EventEyeClient:
    """Sends events to eventeye in batches, in the background; thread-safe.

    Example::

        with EventEyeClient("http://127.0.0.1:8000", api_key="ee_...") as client:
            client.track(session_id, "page interaction", "pageview", {"host": "example.com", "path": "/"})
        # leaving the block flushes and closes

    Options are those of ``ClientConfig``. Without ``api_key`` the key is read
    from ``EVENTEYE_API_KEY``; without ``url``, from ``EVENTEYE_URL``.
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, **options: Unpack[ClientOptions]) -> None:
        self.config = ClientConfig.build(url, api_key, options)
        self._policy = make_policy(self.config)
        self._buffer = Buffer(self.config)
        self._cond = threading.Condition()
        self._abort = threading.Event()
        self._http = httpx.Client(headers=headers(self.config), timeout=self.config.timeout)
        self._thread = threading.Thread(target=self._run, name="eventeye-client", daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    # Producing

    def track(
        self,
        session_id: str,
        category: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        timestamp: datetime | str | None = None,
    ) -> uuid.UUID:
        """Buffer one event (``timestamp`` defaults to now); returns its id."""
        return self.send(make_event(session_id, category, name, data, timestamp))

    def send(self, event: Mapping[str, Any]) -> uuid.UUID:
        """Buffer one event as eventeye takes it, adding ``id`` and ``timestamp`` if missing; returns its id.

        Raises ``InvalidEvent`` at once for an event eventeye could never accept,
        ``BufferFull`` (policy "block") when no room was made in ``block_timeout``.
        """
        event_id, body = prepare(event)
        with self._cond:
            self._wait_for_room()
            dropped = self._buffer.push(event_id, body, time.monotonic())
            if self._buffer.wants_sender():
                self._cond.notify_all()
        if dropped is not None:
            report_failure(self.config, dropped)
        return event_id

    def _wait_for_room(self) -> None:
        if self._buffer.closing:
            raise ClientClosed("the client is closed")
        if self.config.overflow == "drop_oldest" or self._buffer.has_room():
            return
        room = self._cond.wait_for(lambda: self._buffer.has_room() or self._buffer.closing, self.config.block_timeout)
        if self._buffer.closing:
            raise ClientClosed("the client is closed")
        if not room:
            raise BufferFull(
                f"the buffer stayed full ({self.config.max_buffer} events) for {self.config.block_timeout}s"
            )

    # Draining

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered so far now; wait until it is settled. False if ``timeout`` ran out first."""
        with self._cond:
            target = self._buffer.request_flush()
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._buffer.drained_to(target) or not self._thread.is_alive(), timeout)
            return self._buffer.drained_to(target)

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is buffered, stop the sender and release the connection.

        After ``timeout`` seconds, what is still unsent is given up on (reported
        as ``failed``). Returns True when nothing had to be given up on.
        """
        with self._cond:
            if self._buffer.closing:
                return True
            self._buffer.closing = True
            self._cond.notify_all()
        atexit.unregister(self._close_at_exit)
        self._thread.join(timeout)
        clean = not self._thread.is_alive()
        if not clean:
            self._abort.set()
            with self._cond:
                self._cond.notify_all()
            self._thread.join()
        with self._cond:
            left = self._buffer.abandon("the client closed before delivering them")
        if left is not None:
            report_failure(self.config, left)
        self._http.close()
        return clean and left is None

    def _close_at_exit(self) -> None:
        # An unclosed client gets one request timeout to deliver what is left, never longer.
        self.close(timeout=self.config.timeout)

    @property
    def stats(self) -> ClientStats:
        with self._cond:
            return self._buffer.stats()

    def __enter__(self) -> EventEyeClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # The sender thread

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            try:
                report = self._deliver(batch)
            except Exception:  # a bug must not kill the sender and strand the buffer
                logger.exception("could not deliver %d events", len(batch))
                report = Report()
                report.fail("failed", "unexpected client error; see the log", batch)
            with self._cond:
                self._buffer.settle(report)
                self._cond.notify_all()
            for failure in report.failures:
                report_failure(self.config, failure)

    def _next_batch(self) -> list[Queued]:
        with self._cond:
            while not self._abort.is_set():
                wait = self._buffer.wait_time(time.monotonic())
                if wait == 0:
                    batch = self._buffer.take()
                    self._cond.notify_all()
                    return batch
                if wait is None and self._buffer.closing:
                    return []
                self._cond.wait(wait)
            return []

    def _deliver(self, batch: list[Queued]) -> Report:
        delivery = deliver(batch, self._policy)
        step = next(delivery)
        while True:
            reply: Reply
            if self._abort.is_set():
                reply = ABORTED
            elif isinstance(step, Post):
                reply = self._post(step.body)
                with self._cond:
                    self._buffer.counters.requests += 1
            else:
                with self._cond:
                    self._buffer.counters.retries += 1
                reply = ABORTED if self._abort.wait(step.seconds) else None
            try:
                step = delivery.send(reply)
            except StopIteration as done:
                report: Report = done.value
                return report

    def _post(self, body: bytes) -> httpx.Response | httpx.TransportError:
        try:
            return self._http.post(self.config.events_url, content=body)
        except httpx.TransportError as exc:
            return exc
