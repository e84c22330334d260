"""Writes that requests leave to a background task, done in batches a moment later.

Some requests record things whose only readers can wait a moment: a
criticality poll's time (for the consumers listing) and its fact for the
rules (the silent-consumer alert). Writing them in the request's own
transaction costs each request a transaction; here, a task writes
everything gathered every ``delay`` in one.

What that trades: the writes land up to ``delay`` later (an absence timer
may see a silence up to that much too long), and a process that is killed
loses what it held. A stopped process writes what it holds before it exits;
a round that fails is kept and tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.storage.engine import write_transaction
from eventeye.core.tasks import wait_at_most

logger = logging.getLogger("eventeye.deferred")

T = TypeVar("T")
Write = Callable[[AsyncConnection, list[T]], Awaitable[object]]

DROPPED = Counter(
    "eventeye_deferred_dropped_total",
    "Deferred writes dropped because too many waited (the database was unreachable)",
    ["name"],
)


class Deferred(Generic[T]):
    """A bounded queue of items that :meth:`run` writes with ``write`` in rounds, one transaction each."""

    def __init__(self, engine: AsyncEngine, write: Write[T], *, name: str, delay: float, max_pending: int) -> None:
        self.name = name
        self._engine = engine
        self._write = write
        self._delay = delay
        self._pending: deque[T] = deque(maxlen=max_pending)
        self._full = asyncio.Event()
        self._batch = max(1, max_pending // 10)

    def add(self, items: Iterable[T]) -> None:
        """Queue items for the next round (the oldest are dropped past the bound)."""
        before = len(self._pending)
        added = 0
        for item in items:
            self._pending.append(item)
            added += 1
        dropped = before + added - len(self._pending)
        if dropped:
            DROPPED.labels(self.name).inc(dropped)
        if len(self._pending) >= self._batch:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write every queued item now, in one transaction; on failure they stay queued."""
        if not self._pending:
            return
        items = list(self._pending)
        self._pending.clear()
        try:
            async with write_transaction(self._engine) as conn:
                await self._write(conn, items)
        except BaseException:
            self._pending.extendleft(reversed(items))
            raise

    async def run(self) -> None:
        """Flush every ``delay`` (sooner when many wait) until cancelled, then flush what is left."""
        try:
            while True:
                await wait_at_most(self._full.wait(), self._delay)
                self._full.clear()
                try:
                    await self.flush()
                except Exception:
                    logger.warning(
                        "could not write %d deferred %s item(s); retrying", self.pending, self.name, exc_info=True
                    )
                    await asyncio.sleep(self._delay)
        except asyncio.CancelledError:
            await asyncio.shield(self._final_flush())
            raise

    async def _final_flush(self) -> None:
        try:
            await self.flush()
        except Exception:
            logger.warning("lost %d deferred %s item(s) at shutdown", self.pending, self.name, exc_info=True)
