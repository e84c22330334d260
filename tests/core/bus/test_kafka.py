"""What only the Kafka adapter does: settings, idempotence, error translation, broker restarts."""

from __future__ import annotations

import logging
import ssl
import time
from contextlib import AsyncExitStack
from dataclasses import replace

import pytest
from aiokafka.errors import KafkaError

from eventeye.core.bus import Batch, BusError, BusUnavailable, KafkaBus, MemoryBus, Message, Publisher
from eventeye.core.bus.kafka import client_options
from tests.core.bus.conftest import FAST, drain, kafka_settings
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.server import free_port

SECRET = "s3cret-kafka-password"


class TestClientOptions:
    def test_plaintext_has_neither_tls_nor_sasl(self) -> None:
        options = client_options(kafka_settings("broker:9092"))

        assert options["bootstrap_servers"] == "broker:9092"
        assert options["security_protocol"] == "PLAINTEXT"
        assert "ssl_context" not in options
        assert "sasl_plain_password" not in options

    def test_sasl_over_tls_carries_the_credentials_and_a_tls_context(self) -> None:
        settings = kafka_settings(
            "broker:9093",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="scram-sha-512",
            kafka_sasl_username="eventeye",
            kafka_sasl_password=SECRET,
        )

        options = client_options(settings)

        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("eventeye", SECRET)
        assert isinstance(options["ssl_context"], ssl.SSLContext)

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"kafka_sasl_username": "eventeye"}, "EVENTEYE_KAFKA_SASL_PASSWORD"),
            ({"kafka_sasl_password": SECRET}, "EVENTEYE_KAFKA_SASL_USERNAME"),
            ({"kafka_sasl_mechanism": "GSSAPI", "kafka_sasl_username": "u", "kafka_sasl_password": SECRET}, "GSSAPI"),
        ],
    )
    def test_incomplete_sasl_settings_are_refused(self, overrides: dict[str, str], message: str) -> None:
        settings = kafka_settings("broker:9092", kafka_security_protocol="SASL_PLAINTEXT", **overrides)

        with pytest.raises(BusError, match=message):
            client_options(settings)

    def test_a_bus_needs_bootstrap_servers(self) -> None:
        with pytest.raises(BusError, match="EVENTEYE_KAFKA_BOOTSTRAP_SERVERS"):
            KafkaBus(kafka_settings("", kafka_bootstrap_servers=None))


@pytest.mark.slow
class TestWithoutBroker:
    async def test_every_call_raises_bus_unavailable_caused_by_the_kafka_error(self, topic: str) -> None:
        bus = KafkaBus(kafka_settings(f"127.0.0.1:{free_port()}"), timeouts=FAST)

        for call in (bus.publisher().start(), bus.consumer([topic]).start(), bus.ensure_topics([topic])):
            with pytest.raises(BusUnavailable) as caught:
                await call
            assert isinstance(caught.value.__cause__, KafkaError)
            assert caught.value.status_code == 503

    async def test_the_sasl_password_is_never_logged_nor_in_errors(
        self, topic: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings = kafka_settings(
            f"127.0.0.1:{free_port()}",
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username="eventeye",
            kafka_sasl_password=SECRET,
        )
        caplog.set_level(logging.DEBUG)
        bus = KafkaBus(settings, timeouts=FAST)

        with pytest.raises(BusUnavailable) as caught:
            await bus.publisher().start()

        assert "127.0.0.1" in caplog.text
        assert SECRET not in caplog.text
        assert SECRET not in f"{caught.value} {caught.value.__cause__!r} {bus!r} {settings!r}"


@pytest.mark.slow
class TestIdempotence:
    async def test_a_broker_without_idempotence_gets_a_plain_producer_and_a_warning(
        self, kafka_bootstrap_servers: str, topic: str, group: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        bus = KafkaBus(kafka_settings(kafka_bootstrap_servers, kafka_enable_idempotence=True), timeouts=FAST)
        await bus.ensure_topics([topic])

        async with bus.publisher() as publisher, bus.consumer([topic], group_id=group) as consumer:
            await publisher.publish(topic, b"still delivered")
            records = await drain(consumer, 1)

        assert publisher.idempotent is False
        assert [r.value for r in records] == [b"still delivered"]
        warnings = [r for r in caplog.records if r.name == "eventeye.bus.kafka" and r.levelno == logging.WARNING]
        assert any("without idempotence" in r.getMessage() for r in warnings)

    async def test_idempotence_off_asks_nothing_of_the_broker(
        self, kafka_bootstrap_servers: str, topic: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        bus = KafkaBus(kafka_settings(kafka_bootstrap_servers), timeouts=FAST)

        async with bus.publisher() as publisher:
            await publisher.publish(topic, b"x")

        assert publisher.idempotent is False
        assert "idempotence" not in caplog.text


@pytest.mark.slow
class TestTwin:
    async def test_keys_land_in_the_same_partitions_as_on_the_broker(
        self, kafka_bootstrap_servers: str, topic: str
    ) -> None:
        messages = [Message(topic, b"v", key=f"camera-{n}".encode()) for n in range(24)]
        partitions = {}
        for bus in (KafkaBus(kafka_settings(kafka_bootstrap_servers), timeouts=FAST), MemoryBus()):
            await bus.ensure_topics([topic], partitions=6)
            async with bus.consumer([topic]) as consumer, bus.publisher() as publisher:
                await publisher.publish_many(messages)
                records = await drain(consumer, len(messages))
            partitions[type(bus)] = {r.key: r.partition for r in records}

        assert len(partitions[KafkaBus]) == len(messages)
        assert partitions[KafkaBus] == partitions[MemoryBus]


async def publish_eventually(publisher: Publisher, messages: list[Message], *, within: float = 15.0) -> None:
    """Publish, retrying while the broker is still coming back."""
    deadline = time.monotonic() + within
    while True:
        try:
            await publisher.publish_many(messages)
            return
        except BusUnavailable:
            if time.monotonic() > deadline:
                raise


@pytest.mark.slow
async def test_publisher_and_consumer_survive_a_broker_restart(
    private_kafka_broker: TansuBroker, topic: str, group: str, stack: AsyncExitStack
) -> None:
    broker = private_kafka_broker
    bus = KafkaBus(kafka_settings(broker.bootstrap_servers), timeouts=replace(FAST, request=1.5))
    await bus.ensure_topics([topic])
    publisher = await stack.enter_async_context(bus.publisher())
    consumer = await stack.enter_async_context(bus.consumer([topic], group_id=group))
    assert not await consumer.poll(wait=0.3)

    broker.kill()
    with pytest.raises(BusUnavailable):
        await publisher.publish(topic, b"while down")
    assert not await consumer.poll(wait=0.5)
    broker.start()
    await bus.ensure_topics([topic])  # the broker keeps topics in memory: they went with the old process
    await publish_eventually(publisher, [Message(topic, f"{i}".encode()) for i in range(3)])

    records = await drain(consumer, 3, within=20)
    values = list(dict.fromkeys(r.value for r in records if r.value != b"while down"))
    assert values == [b"0", b"1", b"2"]
    deadline = time.monotonic() + 15
    while not await consumer.commit(Batch(tuple(records))):  # refused until the member has rejoined
        assert time.monotonic() < deadline, "the consumer never rejoined its group"
        records += await consumer.poll(wait=0.2)
