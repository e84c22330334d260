"""The processor: reads accepted events in batches, hands them to their module's handler,
records what was rejected, and runs the store hooks (rules) — one transaction per batch.

A batch is all or nothing: a crash at any point leaves the events in the
inbox, and handlers write idempotently on the event id, so nothing is lost or
doubled. A batch that fails because the database cannot be reached is taken
again once it answers; one that fails for another reason is retried event by
event, and an event that fails alone is quarantined in ``errors``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.config import Settings
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.envelope import Envelope, Fact, Rejection
from eventeye.core.pipeline.inbox import InboxSource
from eventeye.core.pipeline.registry import SchemaRegistry
from eventeye.core.storage.engine import write_transaction
from eventeye.core.storage.outage import database_unreachable
from eventeye.errors import Unavailable

logger = logging.getLogger("eventeye.processor")

OUTAGE_PAUSE = 0.5
"""Seconds between tries while the database cannot be reached."""

PROCESSED = Counter("eventeye_events_processed_total", "Events processed", ["module", "outcome"])
BATCH_SECONDS = Histogram(
    "eventeye_processor_batch_seconds", "Time to process one batch", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
)


@dataclass(frozen=True, slots=True)
class HandlerContext:
    settings: Settings
    registry: SchemaRegistry
    now: datetime


@dataclass
class HandlerResult:
    stored: list[Fact] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class Handler(Protocol):
    """A module's processing of its own events, inside the batch's transaction.

    Validate each envelope, write the valid ones idempotently (on the event
    id) with their projections, and return them as facts; return the invalid
    ones as rejections. Never commit.
    """

    async def handle(
        self, conn: AsyncConnection, envelopes: Sequence[Envelope], ctx: HandlerContext
    ) -> HandlerResult: ...


class StoreHook(Protocol):
    """Runs on every batch's stored facts: ``on_stored`` in its transaction, ``after_commit`` after."""

    async def on_stored(self, conn: AsyncConnection, facts: Sequence[Fact]) -> None: ...

    async def after_commit(self) -> None: ...


class Processor:
    """Applies batches of envelopes to the store."""

    def __init__(self, engine: AsyncEngine, settings: Settings, registry: SchemaRegistry) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.handlers: dict[str, Handler] = {}
        self.hooks: list[StoreHook] = []
        # Loops over several sources share the hooks, whose state spans a transaction and its
        # after_commit: one batch at a time per process. Isolation (retrying one by one) is per source.
        self._lock = asyncio.Lock()
        self._isolate: dict[int, int] = {}

    async def apply(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> list[Fact]:
        """Validate, store and hook ``envelopes`` inside ``conn``'s transaction; returns the stored facts."""
        ctx = HandlerContext(settings=self.settings, registry=self.registry, now=datetime.now(UTC))
        by_module: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            by_module[envelope.module].append(envelope)
        facts: list[Fact] = []
        rejected: list[Rejection] = []
        for module, items in by_module.items():
            handler = self.handlers.get(module)
            if handler is None:
                rejected += [
                    _rejection(e, "unknown_module", f"no module {module!r} handles events here") for e in items
                ]
                continue
            result = await handler.handle(conn, items, ctx)
            facts += result.stored
            rejected += result.rejected
            PROCESSED.labels(module, "stored").inc(len(result.stored))
            PROCESSED.labels(module, "rejected").inc(len(result.rejected))
        await pipeline_repository.insert_errors(conn, rejections=rejected, at=ctx.now)
        facts.sort(key=lambda fact: fact.occurred_at)
        for hook in self.hooks:
            await hook.on_stored(conn, facts)
        return facts

    async def step(self, source: InboxSource) -> int:
        """Process one batch from ``source``; returns how many events it held."""
        async with self._lock:
            return await self._step(source)

    async def _step(self, source: InboxSource) -> int:
        key = id(source)
        limit = 1 if self._isolate.get(key) else self.settings.resolved_processor_batch_size
        started = time.perf_counter()
        try:
            async with write_transaction(self.engine) as conn:
                await self.registry.refresh(conn)
                batch = await source.fetch(conn, limit)
                if batch is None:
                    return 0
                await self.apply(conn, batch.envelopes)
                await source.settle(conn, batch)
        except Exception as exc:
            if database_unreachable(exc) or isinstance(exc, Unavailable):
                # Nothing is wrong with the events: the same batch is taken again once the database answers.
                reason = str(exc).split("\n", 1)[0] or type(exc).__name__
                logger.warning("database unavailable; the batch waits for it: %s", reason)
                await asyncio.sleep(OUTAGE_PAUSE)
                return 0
            if limit == 1:
                await self._quarantine(source)
                return 1
            logger.exception("batch failed; retrying its events one by one")
            self._isolate[key] = limit
            return 0
        self._isolate[key] = max(0, self._isolate.get(key, 0) - 1)
        # Hooks first: alerts reach their subscribers without waiting for the source's bookkeeping
        # (a Kafka source commits its offsets there, a round trip to the broker).
        for hook in self.hooks:
            await hook.after_commit()
        await source.committed(batch)
        BATCH_SECONDS.observe(time.perf_counter() - started)
        return len(batch.envelopes)

    async def _quarantine(self, source: InboxSource) -> None:
        logger.exception("an event failed on its own; moving it to errors")
        async with write_transaction(self.engine) as conn:
            batch = await source.fetch(conn, 1)
            if batch is None:
                return
            rejections = [
                _rejection(e, "processing_failed", "processing failed; see the logs") for e in batch.envelopes
            ]
            await pipeline_repository.insert_errors(conn, rejections=rejections, at=datetime.now(UTC))
            await source.settle(conn, batch)
        await source.committed(batch)
        self._isolate[id(source)] = max(0, self._isolate.get(id(source), 0) - 1)

    async def run(self, source: InboxSource) -> None:
        """Process ``source`` until cancelled."""
        idle = self.settings.processor_idle_wait.total_seconds()
        linger = self.settings.processor_linger.total_seconds()
        limit = self.settings.resolved_processor_batch_size
        while True:
            taken = await self.step(source)
            if taken == 0:
                await source.wait(idle)
            if taken < limit and not self._isolate.get(id(source)):
                # Caught up: let the next batch gather. One transaction per
                # trickle of events costs far more than the few milliseconds waited.
                await asyncio.sleep(linger)


def _rejection(envelope: Envelope, kind: str, reason: str) -> Rejection:
    return Rejection(
        kind=kind,
        module=envelope.module,
        reason=reason,
        type=envelope.type,
        source=envelope.source,
        event_id=envelope.id,
        raw=envelope.body.decode("utf-8", "replace"),
        received_at=envelope.received_at,
    )
