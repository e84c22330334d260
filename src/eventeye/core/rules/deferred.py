"""Facts observed by requests, given to the rules in batches a moment later.

Evaluating a fact in the request's own transaction costs that request a
state read and write (a criticality poll spent more CPU there than on its
own work). Requests whose facts only feed rules, and need no alert in their
answer, hand them here instead: a background task evaluates everything
gathered every ``rules_observe_delay`` in one transaction.

What that trades: facts reach the rules up to that delay later (an absence
timer may see a silence up to that much too long), and a process that is
killed loses the facts of its last round. A stopped process evaluates what
it holds before it exits; a round that fails is kept and tried again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.alerts.repository import Alert
from eventeye.core.pipeline.envelope import Fact
from eventeye.core.storage.engine import write_transaction

Observe = Callable[[AsyncConnection, Sequence[Fact]], Awaitable[list[Alert]]]

logger = logging.getLogger("eventeye.rules")

DROPPED = Counter(
    "eventeye_rules_deferred_facts_dropped_total",
    "Deferred facts dropped because too many waited (the database was unreachable)",
)


class DeferredFacts:
    """A bounded queue of facts that :meth:`run` evaluates in rounds."""

    def __init__(self, engine: AsyncEngine, observe: Observe, *, delay: float, max_pending: int) -> None:
        self._engine = engine
        self._observe = observe
        self._delay = delay
        self._pending: deque[Fact] = deque(maxlen=max_pending)
        self._full = asyncio.Event()
        self._batch = max(1, max_pending // 10)

    def add(self, facts: Sequence[Fact]) -> None:
        """Queue facts for the next round (the oldest are dropped past the bound)."""
        overflow = len(self._pending) + len(facts) - (self._pending.maxlen or 0)
        if overflow > 0:
            DROPPED.inc(overflow)
        self._pending.extend(facts)
        if len(self._pending) >= self._batch:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> list[Alert]:
        """Evaluate every queued fact now, in one transaction; on failure they stay queued.

        The alerts raised are published once that transaction commits, as
        for any alert the rules record.
        """
        if not self._pending:
            return []
        facts = list(self._pending)
        self._pending.clear()
        try:
            async with write_transaction(self._engine) as conn:
                return await self._observe(conn, facts)
        except BaseException:
            self._pending.extendleft(reversed(facts))
            raise

    async def run(self) -> None:
        """Flush every ``delay`` (sooner when many wait) until cancelled, then flush what is left."""
        try:
            while True:
                try:
                    await asyncio.wait_for(self._full.wait(), self._delay)
                except TimeoutError:
                    pass
                self._full.clear()
                try:
                    await self.flush()
                except Exception:
                    logger.warning("could not evaluate %d deferred fact(s); retrying", self.pending, exc_info=True)
                    await asyncio.sleep(self._delay)
        except asyncio.CancelledError:
            await asyncio.shield(self._final_flush())
            raise

    async def _final_flush(self) -> None:
        try:
            await self.flush()
        except Exception:
            logger.warning("lost %d deferred fact(s) at shutdown", self.pending, exc_info=True)
