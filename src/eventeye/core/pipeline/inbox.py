"""The embedded inbox: a table written with group commit, read by the processor in order.

Concurrent requests share one transaction: while a write is in flight the
next requests queue, and the writer takes them all at once. A request is
answered only once its events are committed.

On PostgreSQL the table is a queue: every processed event leaves a dead row
at the head of the index the processor reads from, and every read walks over
them until a ``VACUUM`` clears them. The worker vacuums it itself after every
``VACUUM_AFTER`` events it processes, rather than waiting for autovacuum (a
minute apart by default, or switched off).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.envelope import Envelope
from eventeye.core.storage.driver import DriverPool
from eventeye.core.storage.engine import read_transaction, write_transaction
from eventeye.core.tasks import wait_at_most
from eventeye.errors import RateLimited, Unavailable

logger = logging.getLogger("eventeye.inbox")

VACUUM_AFTER = 20_000

BACKLOG = Gauge("eventeye_inbox_backlog", "Events accepted into the embedded inbox and not processed yet")


@dataclass(frozen=True, slots=True)
class Batch:
    """Envelopes handed to the processor, with what the source needs to settle them."""

    envelopes: list[Envelope]
    tokens: list[int] = field(default_factory=list)


class InboxSource(Protocol):
    """Where the processor reads accepted events from (the inbox table, or Kafka).

    ``fetch`` and ``settle`` run inside the processor's transaction, so that a
    table inbox removes exactly what was stored; ``committed`` runs after it
    (a Kafka inbox commits its offsets there: at-least-once + idempotent writes).
    """

    async def fetch(self, conn: AsyncConnection, limit: int) -> Batch | None: ...

    async def settle(self, conn: AsyncConnection, batch: Batch) -> None: ...

    async def committed(self, batch: Batch) -> None: ...

    async def wait(self, max_wait: float) -> None: ...


class Inbox(Protocol):
    """Where accepted events are appended; ``append`` returns once they are durable."""

    async def append(self, envelopes: Sequence[Envelope]) -> None: ...

    def check_capacity(self) -> None: ...


class DatabaseInbox:
    """Group-commit writer and ordered reader over the ``inbox`` table."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int,
        max_backlog: int,
        linger: float = 0.0,
        driver: DriverPool | None = None,
    ) -> None:
        self.engine = engine
        self.driver = driver
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        self.linger = linger
        self.backlog = 0
        self._pending: deque[tuple[list[Envelope], asyncio.Future[None]]] = deque()
        self._wake = asyncio.Event()
        self._arrived = asyncio.Event()
        self._writing = False
        self._deleted = 0
        self._vacuum = asyncio.Event()

    def check_capacity(self) -> None:
        """Raise ``RateLimited`` while the backlog is over its bound."""
        if self.backlog >= self.max_backlog:
            raise RateLimited("the event backlog is full; retry shortly", retry_after=1)

    async def append(self, envelopes: Sequence[Envelope]) -> None:
        if not self._writing:
            raise Unavailable("the inbox writer is not running in this process")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((list(envelopes), future))
        self._wake.set()
        await future

    async def run_writer(self) -> None:
        """Write queued requests, many per transaction, until cancelled."""
        self._writing = True
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.linger:
                    await asyncio.sleep(self.linger)
                while self._pending:
                    await self._write_some(self._take())
        finally:
            self._writing = False
            self._fail(list(self._pending), "eventeye is shutting down")
            self._pending.clear()

    def _take(self) -> list[tuple[list[Envelope], asyncio.Future[None]]]:
        """The oldest queued requests, up to ``max_batch`` events (at least one request)."""
        taken: list[tuple[list[Envelope], asyncio.Future[None]]] = []
        count = 0
        while self._pending and (not taken or count + len(self._pending[0][0]) <= self.max_batch):
            item = self._pending.popleft()
            taken.append(item)
            count += len(item[0])
        return taken

    async def _write_some(self, taken: list[tuple[list[Envelope], asyncio.Future[None]]]) -> None:
        envelopes = [envelope for group, _ in taken for envelope in group]
        try:
            await self._append(envelopes)
        except asyncio.CancelledError:
            self._fail(taken, "eventeye is shutting down")
            raise
        except Exception:
            logger.exception("could not append %d events to the inbox", len(envelopes))
            self._fail(taken, "could not store the events; retry")
            return
        self.backlog += len(envelopes)
        for _, future in taken:
            if not future.done():
                future.set_result(None)
        self._arrived.set()

    @staticmethod
    def _fail(taken: list[tuple[list[Envelope], asyncio.Future[None]]], reason: str) -> None:
        for _, future in taken:
            if not future.done():
                future.set_exception(Unavailable(reason))

    async def _append(self, envelopes: list[Envelope]) -> None:
        if self.driver is not None:
            await pipeline_repository.append_inbox_on_driver(self.driver, envelopes)
            return
        async with write_transaction(self.engine) as conn:
            await pipeline_repository.append_inbox(conn, rows=[envelope.as_row() for envelope in envelopes])

    async def run_backlog_monitor(self, every: float = 1.0) -> None:
        """Keep ``backlog`` (and its gauge) true to the store: other processes drain it too."""
        while True:
            self.backlog = await self.pending()
            BACKLOG.set(self.backlog)
            await asyncio.sleep(every)

    async def pending(self) -> int:
        """Events accepted and not processed yet."""
        async with read_transaction(self.engine) as conn:
            return await pipeline_repository.inbox_backlog(conn)

    async def close(self) -> None:
        """Release what this inbox holds beyond the engine (nothing, for the table)."""

    # InboxSource

    async def fetch(self, conn: AsyncConnection, limit: int) -> Batch | None:
        claimed = await pipeline_repository.claim_inbox(conn, limit=limit)
        if not claimed:
            return None
        return Batch(envelopes=[envelope for _, envelope in claimed], tokens=[seq for seq, _ in claimed])

    async def settle(self, conn: AsyncConnection, batch: Batch) -> None:
        await pipeline_repository.delete_inbox(conn, seqs=batch.tokens)

    async def committed(self, batch: Batch) -> None:
        self.backlog = max(0, self.backlog - len(batch.envelopes))
        self._deleted += len(batch.envelopes)
        if self._deleted >= VACUUM_AFTER:
            self._vacuum.set()

    async def run_vacuum(self, pause: float = 1.0) -> None:
        """PostgreSQL: ``VACUUM`` the table after every ``VACUUM_AFTER`` events processed, until cancelled."""
        if self.driver is None:
            raise RuntimeError("vacuuming the inbox needs PostgreSQL's driver pool")
        while True:
            await self._vacuum.wait()
            self._vacuum.clear()
            self._deleted = 0
            try:
                await pipeline_repository.vacuum_inbox(self.driver)
            except Unavailable:
                logger.warning("could not vacuum the inbox; trying again later")
                await asyncio.sleep(pause)

    async def wait(self, max_wait: float) -> None:
        """Until events arrive in this process, or ``max_wait`` seconds (others may append too)."""
        await wait_at_most(self._arrived.wait(), max_wait)
        self._arrived.clear()
