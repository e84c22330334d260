"""``AsyncEventEyeClient``: buffers events and sends them in batches from a background task."""

from __future__ import annotations

import asyncio
import logging
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


class AsyncEventEyeClient:
    """Sends events to eventeye in batches from a background task of the running event loop.

    Example::

        async with AsyncEventEyeClient("http://127.0.0.1:8000", api_key="ee_...") as client:
            await client.track(session_id, "page interaction", "pageview", {"host": "example.com", "path": "/"})

    Same options and behaviour as ``EventEyeClient``; the sender starts with
    the first event (or ``async with``) and ``close()`` must be awaited.
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, **options: Unpack[ClientOptions]) -> None:
        self.config = ClientConfig.build(url, api_key, options)
        self._policy = make_policy(self.config)
        self._buffer = Buffer(self.config)
        self._cond = asyncio.Condition()
        self._abort = asyncio.Event()
        self._http = httpx.AsyncClient(headers=headers(self.config), timeout=self.config.timeout)
        self._task: asyncio.Task[None] | None = None

    # Producing

    async def track(
        self,
        session_id: str,
        category: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        timestamp: datetime | str | None = None,
    ) -> uuid.UUID:
        """Buffer one event (``timestamp`` defaults to now); returns its id."""
        return await self.send(make_event(session_id, category, name, data, timestamp))

    async def send(self, event: Mapping[str, Any]) -> uuid.UUID:
        """Buffer one event as eventeye takes it, adding ``id`` and ``timestamp`` if missing; returns its id.

        Raises ``InvalidEvent`` at once for an event eventeye could never accept,
        ``BufferFull`` (policy "block") when no room was made in ``block_timeout``.
        """
        event_id, body = prepare(event)
        self._start()
        async with self._cond:
            await self._wait_for_room()
            dropped = self._buffer.push(event_id, body, time.monotonic())
            if self._buffer.wants_sender():
                self._cond.notify_all()
        if dropped is not None:
            report_failure(self.config, dropped)
        return event_id

    async def _wait_for_room(self) -> None:
        if self._buffer.closing:
            raise ClientClosed("the client is closed")
        if self.config.overflow == "drop_oldest" or self._buffer.has_room():
            return
        try:
            await asyncio.wait_for(
                self._cond.wait_for(lambda: self._buffer.has_room() or self._buffer.closing), self.config.block_timeout
            )
        except TimeoutError:
            limit = f"{self.config.max_buffer} events"
            raise BufferFull(f"the buffer stayed full ({limit}) for {self.config.block_timeout}s") from None
        if self._buffer.closing:
            raise ClientClosed("the client is closed")

    # Draining

    # ``timeout`` as in the sync client: on expiry these settle cleanly (report, give up), which cancelling could not.
    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Send everything buffered so far now; wait until it is settled. False if ``timeout`` ran out first."""
        self._start()
        async with self._cond:
            target = self._buffer.request_flush()
            self._cond.notify_all()
            settled = self._cond.wait_for(lambda: self._buffer.drained_to(target) or self._sender_done())
            try:
                await asyncio.wait_for(settled, timeout)
            except TimeoutError:
                pass
            return self._buffer.drained_to(target)

    async def close(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Deliver what is buffered, stop the sender and release the connection.

        After ``timeout`` seconds, what is still unsent is given up on (reported
        as ``failed``). Returns True when nothing had to be given up on.
        """
        async with self._cond:
            if self._buffer.closing:
                return True
            self._buffer.closing = True
            self._cond.notify_all()
        clean = await self._stop_sender(timeout)
        async with self._cond:
            left = self._buffer.abandon("the client closed before delivering them")
        if left is not None:
            report_failure(self.config, left)
        await self._http.aclose()
        return clean and left is None

    async def _stop_sender(self, timeout: float | None) -> bool:  # noqa: ASYNC109
        if self._task is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
            return True
        except TimeoutError:
            self._abort.set()
            async with self._cond:
                self._cond.notify_all()
            await self._task
            return False

    @property
    def stats(self) -> ClientStats:
        return self._buffer.stats()

    async def __aenter__(self) -> AsyncEventEyeClient:
        self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    # The sender task

    def _start(self) -> None:
        if self._task is None and not self._buffer.closing:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="eventeye-client")

    def _sender_done(self) -> bool:
        return self._task is None or self._task.done()

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                return
            try:
                report = await self._deliver(batch)
            except Exception:  # a bug must not kill the sender and strand the buffer
                logger.exception("could not deliver %d events", len(batch))
                report = Report()
                report.fail("failed", "unexpected client error; see the log", batch)
            async with self._cond:
                self._buffer.settle(report)
                self._cond.notify_all()
            for failure in report.failures:
                report_failure(self.config, failure)

    async def _next_batch(self) -> list[Queued]:
        async with self._cond:
            while not self._abort.is_set():
                wait = self._buffer.wait_time(time.monotonic())
                if wait == 0:
                    batch = self._buffer.take()
                    self._cond.notify_all()
                    return batch
                if wait is None and self._buffer.closing:
                    return []
                try:
                    await asyncio.wait_for(self._cond.wait(), wait)
                except TimeoutError:
                    pass
            return []

    async def _deliver(self, batch: list[Queued]) -> Report:
        delivery = deliver(batch, self._policy)
        step = next(delivery)
        while True:
            reply: Reply
            if self._abort.is_set():
                reply = ABORTED
            elif isinstance(step, Post):
                reply = await self._post(step.body)
                self._buffer.counters.requests += 1
            else:
                self._buffer.counters.retries += 1
                reply = ABORTED if await self._aborted_within(step.seconds) else None
            try:
                step = delivery.send(reply)
            except StopIteration as done:
                report: Report = done.value
                return report

    async def _aborted_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._abort.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _post(self, body: bytes) -> httpx.Response | httpx.TransportError:
        try:
            return await self._http.post(self.config.events_url, content=body)
        except httpx.TransportError as exc:
            return exc
