"""The delivery worker: drains the outbox of alert deliveries, retrying with exponential backoff.

A delivery row is written in the same transaction as its alert, so a crash
between commit and delivery delays a delivery but never loses it. A worker
leases the deliveries it attempts (other workers skip them until the lease
ends), so a worker that dies mid-attempt leaves them to be attempted again:
delivery is at least once, and receivers drop repeats by delivery id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.channels.base import Channel, Job, Outcome
from eventeye.core.storage.engine import write_transaction
from eventeye.core.tasks import wait_at_most

logger = logging.getLogger("eventeye.alerts.delivery")

ATTEMPTS = Counter("eventeye_alert_delivery_attempts_total", "Alert delivery attempts", ["channel", "outcome"])


def backoff(attempts: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failure: base, 2 x base, 4 x base, ... at most ``cap``."""
    wait: timedelta = base * (2 ** min(attempts - 1, 30))
    return min(cap, wait)


class DeliveryWorker:
    """Attempts due deliveries in batches; wakes early when alerts were just raised."""

    def __init__(self, engine: AsyncEngine, settings: Settings, channels: Mapping[str, Channel]) -> None:
        self.engine = engine
        self.settings = settings
        self.channels = dict(channels)
        self.lease = settings.alerts_webhook_timeout * 2 + timedelta(seconds=10)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        poll = self.settings.alerts_delivery_poll.total_seconds()
        try:
            while True:
                if await self.step() == 0:
                    await wait_at_most(self._wake.wait(), poll)
                    self._wake.clear()
        finally:
            for channel in self.channels.values():
                await channel.close()

    async def step(self, now: datetime | None = None) -> int:
        """Attempt one batch of due deliveries; returns how many were attempted."""
        now = now or datetime.now(UTC)
        async with write_transaction(self.engine) as conn:
            claimed = await alerts_repository.claim_deliveries(
                conn, now=now, limit=self.settings.alerts_delivery_batch, lease_until=now + self.lease
            )
            names = [delivery.target for delivery, _ in claimed if delivery.channel == "webhook"]
            hooks = await alerts_repository.webhooks_by_name(conn, names=names)
        if not claimed:
            return 0
        jobs = [
            Job(delivery, alert, hooks.get(delivery.target) if delivery.channel == "webhook" else None)
            for delivery, alert in claimed
        ]
        outcomes = await self._attempt(jobs)
        done = datetime.now(UTC)
        async with write_transaction(self.engine) as conn:
            await alerts_repository.record_outcomes(conn, rows=[self._row(j, o, done) for j, o in outcomes])
        return len(jobs)

    async def _attempt(self, jobs: Sequence[Job]) -> list[tuple[Job, Outcome]]:
        by_channel: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_channel[job.delivery.channel].append(job)
        names = list(by_channel)
        results = await asyncio.gather(*(self._channel(name, by_channel[name]) for name in names))
        return [pair for result in results for pair in result]

    async def _channel(self, name: str, jobs: list[Job]) -> list[tuple[Job, Outcome]]:
        channel = self.channels.get(name)
        if channel is None:
            outcomes = [Outcome(ok=False, error=f"no channel {name!r}", permanent=True) for _ in jobs]
        else:
            try:
                outcomes = await channel.deliver(jobs)
            except Exception as exc:  # a channel bug must not stop the other deliveries
                logger.exception("the %s channel failed", name)
                outcomes = [Outcome(ok=False, error=f"{type(exc).__name__}") for _ in jobs]
        for outcome in outcomes:
            ATTEMPTS.labels(name, "ok" if outcome.ok else "failed").inc()
        return list(zip(jobs, outcomes, strict=True))

    def _row(self, job: Job, outcome: Outcome, at: datetime) -> dict[str, Any]:
        attempts = job.delivery.attempts + 1
        limit = (job.webhook.max_attempts if job.webhook else None) or self.settings.alerts_delivery_max_attempts
        row: dict[str, Any] = {
            "id": job.delivery.id,
            "attempts": attempts,
            "last_status": outcome.status,
            "last_error": outcome.error,
            "updated_at": at,
            "delivered_at": at if outcome.ok else None,
            "next_attempt_at": None,
        }
        if outcome.ok:
            return row | {"status": "delivered"}
        if outcome.permanent or attempts >= limit:
            logger.warning(
                "delivery %s to %s %s is dead after %d attempt(s)",
                job.delivery.id,
                job.delivery.channel,
                job.delivery.target,
                attempts,
            )
            return row | {"status": "dead"}
        wait = backoff(
            attempts, base=self.settings.alerts_delivery_backoff, cap=self.settings.alerts_delivery_max_backoff
        )
        return row | {"status": "pending", "next_attempt_at": at + wait}
