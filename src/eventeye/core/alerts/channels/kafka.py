"""The Kafka channel: alerts as JSON records on the sink's topic, keyed by the alert's key."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from eventeye.core.alerts.channels.base import Job, Outcome
from eventeye.core.bus import Bus, BusError, Message, Publisher
from eventeye.core.responses import dumps


class KafkaChannel:
    """Publishes through one long-lived publisher of the bus (Kafka, or the in-memory twin)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._publisher: Publisher | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> Publisher:
        async with self._lock:
            if self._publisher is None:
                publisher = self.bus.publisher()
                await publisher.start()
                self._publisher = publisher
            return self._publisher

    async def deliver(self, jobs: Sequence[Job]) -> list[Outcome]:
        messages = [
            Message(
                topic=job.delivery.target,
                value=dumps(job.alert.as_json()),
                key=job.alert.key.encode(),
                headers=(("alert-id", str(job.alert.id).encode()), ("rule", job.alert.rule.encode())),
            )
            for job in jobs
        ]
        try:
            publisher = await self._ready()
            await publisher.publish_many(messages)
        except BusError as exc:
            await self._reset()
            return [Outcome(ok=False, error=str(exc)) for _ in jobs]
        return [Outcome(ok=True) for _ in jobs]

    async def _reset(self) -> None:
        async with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                await publisher.close()
            except BusError:
                pass

    async def close(self) -> None:
        await self._reset()
