"""The message bus: a port (``base``) with a Kafka adapter and an in-memory twin.

```python
bus = create_bus(settings)
await bus.ensure_topics(["detections"], partitions=6)
async with bus.publisher() as publisher:
    await publisher.publish("detections", body, key=camera_id)
```
"""

from __future__ import annotations

from eventeye.config import Settings
from eventeye.core.bus.base import (
    Batch,
    Bus,
    BusClosed,
    BusError,
    BusRejected,
    BusUnavailable,
    Consumer,
    Headers,
    Message,
    Publisher,
    Record,
    StartAt,
)
from eventeye.core.bus.kafka import KafkaBus, KafkaTimeouts
from eventeye.core.bus.memory import MemoryBus

__all__ = [
    "Batch",
    "Bus",
    "BusClosed",
    "BusError",
    "BusRejected",
    "BusUnavailable",
    "Consumer",
    "Headers",
    "KafkaBus",
    "KafkaTimeouts",
    "MemoryBus",
    "Message",
    "Publisher",
    "Record",
    "StartAt",
    "create_bus",
]


def create_bus(settings: Settings) -> Bus:
    """Kafka when ``EVENTEYE_KAFKA_BOOTSTRAP_SERVERS`` is set, else an in-process bus."""
    if settings.kafka_bootstrap_servers:
        return KafkaBus(settings)
    return MemoryBus(group_id=settings.kafka_group_id)
