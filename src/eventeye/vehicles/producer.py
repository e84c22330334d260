"""Publishing detections to their topic: what ``POST /detections`` does when Kafka is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from eventeye.core.bus import Bus, BusError, Message, Publisher
from eventeye.core.pipeline.envelope import Envelope
from eventeye.core.pipeline.kafka_source import ID_HEADER


def detection_message(topic: str, envelope: Envelope) -> Message:
    """The record of a detection: its canonical JSON, with the event id in the ``id`` header."""
    return Message(topic, envelope.body, headers=((ID_HEADER, str(envelope.id).encode()),))


class DetectionWriter:
    """One long-lived publisher per process, started on first use, recreated after a failure."""

    def __init__(self, bus: Bus, topic: str, *, partitions: int) -> None:
        self.bus = bus
        self.topic = topic
        self.partitions = partitions
        self._publisher: Publisher | None = None
        self._lock = asyncio.Lock()

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish and return once the broker acknowledged every record (``acks=all``)."""
        publisher = await self._ready()
        try:
            await publisher.publish_many(detection_message(self.topic, e) for e in envelopes)
        except BusError:
            await self.close()
            raise

    async def _ready(self) -> Publisher:
        async with self._lock:
            if self._publisher is None:
                await self.bus.ensure_topics([self.topic], partitions=self.partitions)
                publisher = self.bus.publisher()
                await publisher.start()
                self._publisher = publisher
            return self._publisher

    async def close(self) -> None:
        async with self._lock:
            publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                await publisher.close()
            except BusError:
                pass
