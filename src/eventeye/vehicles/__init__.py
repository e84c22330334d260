"""vehicles: detections consumed from Kafka (or posted), indexed, queried, and suspicious ones alerted."""

from __future__ import annotations

from eventeye.core.bus import create_bus
from eventeye.core.modules import ModuleRegistry
from eventeye.core.pipeline.kafka_source import KafkaInboxSource
from eventeye.core.runtime import Runtime
from eventeye.vehicles.endpoints import router
from eventeye.vehicles.handlers import VehiclesHandler
from eventeye.vehicles.producer import DetectionWriter
from eventeye.vehicles.schemas import MODULE
from eventeye.vehicles.service import default_rule, parse_record

__all__ = ["register", "router"]


def register(registry: ModuleRegistry) -> None:
    """Process detections, alert on suspicious ones, and with Kafka: consume and publish the topic."""
    runtime = registry.runtime
    settings = runtime.settings
    registry.add_handler(MODULE, VehiclesHandler())
    registry.add_rule(MODULE, default_rule(settings))
    if not settings.kafka_bootstrap_servers:
        return
    bus = create_bus(settings)
    source = KafkaInboxSource(
        bus,
        [settings.vehicles_detections_topic],
        module=MODULE,
        parse=parse_record,
        partitions=settings.vehicles_topic_partitions,
        dead_letter_topic=settings.kafka_dead_letter_topic,
        max_records=settings.resolved_processor_batch_size,
    )
    runtime.pipeline.add_source(MODULE, source)
    if "api" in registry.roles:
        writer = DetectionWriter(bus, settings.vehicles_detections_topic, partitions=settings.vehicles_topic_partitions)
        runtime.extensions[MODULE] = writer

        async def close_writer(_: Runtime) -> None:
            await writer.close()

        registry.add_shutdown(close_writer)
