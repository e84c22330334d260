"""The Kafka adapter of the bus, on aiokafka.

Producers wait for ``acks=all``; with ``EVENTEYE_KAFKA_ENABLE_IDEMPOTENCE`` they
are idempotent when the broker allows it and fall back to plain producers
(with a warning) when it does not. Consumers join a consumer group with
auto-commit off and commit only what the caller hands to ``commit``. aiokafka
reconnects on its own after a broker restart and rejoins the group after a
rebalance; every error it raises is translated into the bus errors of
``eventeye.core.bus.base`` by ``translate_errors``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    BrokerNotAvailableError,
    ClusterAuthorizationFailedError,
    CommitFailedError,
    ConsumerStoppedError,
    GroupAuthorizationFailedError,
    IllegalStateError,
    InvalidTopicError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    MessageSizeTooLargeError,
    ProducerClosed,
    RecordTooLargeError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
    for_code,
)
from aiokafka.helpers import create_ssl_context

from eventeye.config import Settings
from eventeye.core.bus.base import (
    Batch,
    Bus,
    BusClosed,
    BusError,
    BusRejected,
    BusUnavailable,
    Consumer,
    Message,
    Publisher,
    Record,
    StartAt,
)

logger = logging.getLogger("eventeye.bus.kafka")

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
CLOSE_TIMEOUT = 10.0

_UNAVAILABLE = (KafkaTimeoutError, KafkaUnavailableError, BrokerNotAvailableError, asyncio.TimeoutError)
_REJECTED = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
)


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Re-raise aiokafka's errors as bus errors, chained to the original."""
    try:
        yield
    except BusError:
        raise
    except (ProducerClosed, ConsumerStoppedError) as exc:
        raise BusClosed(f"{action}: already closed") from exc
    except _REJECTED as exc:
        raise BusRejected(f"{action}: {exc}") from exc
    except _UNAVAILABLE as exc:
        raise BusUnavailable(f"{action}: the broker did not answer in time ({exc})") from exc
    except KafkaError as exc:
        if exc.retriable:
            raise BusUnavailable(f"{action}: {exc}") from exc
        raise BusError(f"{action}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class KafkaTimeouts:
    """Client timings, in seconds; tests shorten them."""

    request: float = 30.0
    session: float = 10.0
    heartbeat: float = 3.0
    retry_backoff: float = 0.2
    metadata_max_age: float = 60.0
    linger: float = 0.005
    fetch_max_wait: float = 0.5
    """How long the broker may hold a fetch that found nothing (some brokers answer only then)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaTimeouts:
        """The group and fetch timings configured in ``settings``; the rest as default."""
        return cls(
            session=settings.kafka_session_timeout.total_seconds(),
            heartbeat=settings.kafka_heartbeat_interval.total_seconds(),
            fetch_max_wait=settings.kafka_fetch_max_wait.total_seconds(),
        )


def client_options(settings: Settings, *, client_id: str = "eventeye") -> dict[str, Any]:
    """The connection options every aiokafka client gets: brokers, TLS and SASL."""
    if not settings.kafka_bootstrap_servers:
        raise BusError("EVENTEYE_KAFKA_BOOTSTRAP_SERVERS is not set")
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": client_id,
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options.update(_sasl_options(settings))
    return options


def _sasl_options(settings: Settings) -> dict[str, Any]:
    mechanism = (settings.kafka_sasl_mechanism or "PLAIN").upper()
    if mechanism not in SASL_MECHANISMS:
        raise BusError(
            f"EVENTEYE_KAFKA_SASL_MECHANISM {mechanism!r} is not supported; use {', '.join(SASL_MECHANISMS)}"
        )
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        raise BusError("SASL needs EVENTEYE_KAFKA_SASL_USERNAME and EVENTEYE_KAFKA_SASL_PASSWORD")
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
    }


def _timing_options(timeouts: KafkaTimeouts) -> dict[str, Any]:
    return {
        "request_timeout_ms": _ms(timeouts.request),
        "retry_backoff_ms": _ms(timeouts.retry_backoff),
        "metadata_max_age_ms": _ms(timeouts.metadata_max_age),
    }


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class KafkaBus(Bus):
    """Publishers and group consumers on the Kafka cluster named in ``settings``."""

    def __init__(self, settings: Settings, *, timeouts: KafkaTimeouts | None = None, client_id: str = "eventeye"):
        self.timeouts = timeouts or KafkaTimeouts.from_settings(settings)
        self._options = client_options(settings, client_id=client_id) | _timing_options(self.timeouts)
        self._idempotence = settings.kafka_enable_idempotence
        self._group_id = settings.kafka_group_id

    async def ensure_topics(self, topics: Sequence[str], *, partitions: int = 1) -> None:
        """Create missing topics, replicated on up to three brokers."""
        admin = AIOKafkaAdminClient(**self._options)
        with translate_errors("creating topics"):
            await admin.start()
            try:
                missing = sorted(set(topics) - set(await admin.list_topics()))
                if missing:
                    brokers = len((await admin.describe_cluster())["brokers"])
                    new_topics = [NewTopic(name, partitions, max(1, min(3, brokers))) for name in missing]
                    response = await admin.create_topics(new_topics)
                    _raise_topic_errors(response.topic_errors)
            finally:
                await admin.close()

    def publisher(self) -> KafkaPublisher:
        return KafkaPublisher(self._options, idempotence=self._idempotence, linger=self.timeouts.linger)

    def consumer(
        self, topics: Sequence[str], *, group_id: str | None = None, start_at: StartAt = "earliest"
    ) -> KafkaConsumer:
        options = self._options | {
            "group_id": group_id or self._group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": start_at,
            "session_timeout_ms": _ms(self.timeouts.session),
            "heartbeat_interval_ms": _ms(self.timeouts.heartbeat),
            "fetch_max_wait_ms": _ms(self.timeouts.fetch_max_wait),
        }
        return KafkaConsumer(list(topics), options)


def _raise_topic_errors(topic_errors: Iterable[tuple[Any, ...]]) -> None:
    for topic, code, message, *_ in topic_errors:
        error_type = for_code(code)
        if code and error_type is not TopicAlreadyExistsError:
            raise error_type(f"{topic}: {message}")


class KafkaPublisher(Publisher):
    """A producer with ``acks=all``; ``idempotent`` tells whether the broker granted idempotence."""

    def __init__(self, options: dict[str, Any], *, idempotence: bool, linger: float) -> None:
        self._options = options | {"acks": "all", "linger_ms": _ms(linger)}
        self._want_idempotence = idempotence
        self._producer: AIOKafkaProducer | None = None
        self._closed = False
        self.idempotent = False

    async def start(self) -> None:
        if self._closed:
            raise BusClosed("publisher is closed")
        if self._producer is not None:
            return
        if self._want_idempotence:
            self._producer = await self._start_idempotent()
        if self._producer is None:
            self._producer = await self._start_producer(idempotent=False)

    async def _start_idempotent(self) -> AIOKafkaProducer | None:
        try:
            producer = await self._start_producer(idempotent=True)
        except (BusUnavailable, BusClosed):
            raise
        except BusError as exc:
            logger.warning("the broker refused an idempotent producer (%s); publishing without idempotence", exc)
            return None
        self.idempotent = True
        return producer

    async def _start_producer(self, *, idempotent: bool) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**self._options, enable_idempotence=idempotent)
        try:
            with translate_errors("starting a producer"):
                await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def publish_many(self, messages: Iterable[Message]) -> None:
        producer = self._require()
        pending: list[asyncio.Future[Any]] = []
        try:
            with translate_errors("publishing"):
                # send() only queues the record; the queue goes out in batches
                for message in messages:
                    headers = list(message.headers) or None
                    pending.append(await producer.send(message.topic, message.value, key=message.key, headers=headers))
                await asyncio.gather(*pending)
        finally:
            for future in pending:
                future.add_done_callback(_retrieve)

    async def close(self) -> None:
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            with translate_errors("closing a producer"):
                await _bounded_stop(producer.stop(), "closing a producer")

    def _require(self) -> AIOKafkaProducer:
        if self._closed:
            raise BusClosed("publisher is closed")
        if self._producer is None:
            raise BusError("publisher is not started")
        return self._producer


async def _bounded_stop(stopping: Awaitable[None], what: str) -> None:
    """Stop a client, but not for longer than ``CLOSE_TIMEOUT``: a broker that went away
    mid-shutdown must not hold the process past its graceful-shutdown time."""
    try:
        await asyncio.wait_for(stopping, CLOSE_TIMEOUT)
    except TimeoutError:
        logger.warning("gave up %s after %.0f s; the broker did not answer", what, CLOSE_TIMEOUT)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a delivery's failure as seen once another failure has been raised for the call."""
    if not future.cancelled():
        future.exception()


class KafkaConsumer(Consumer):
    """A member of a Kafka consumer group; see ``Consumer`` for the contract."""

    def __init__(self, topics: list[str], options: dict[str, Any]) -> None:
        self._topics = topics
        self._options = options
        self._consumer: AIOKafkaConsumer | None = None
        self._closed = False

    async def start(self) -> None:
        if self._closed:
            raise BusClosed("consumer is closed")
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(*self._topics, **self._options)
        try:
            with translate_errors("joining the consumer group"):
                await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer

    async def poll(self, *, max_records: int = 500, wait: float = 1.0) -> Batch:
        consumer = self._require()
        with translate_errors("polling"):
            fetched = await consumer.getmany(timeout_ms=_ms(wait), max_records=max_records)
        return Batch(tuple(_record(message) for messages in fetched.values() for message in messages))

    async def commit(self, batch: Batch) -> bool:
        consumer = self._require()
        wanted = {TopicPartition(topic, partition): offset for (topic, partition), offset in batch.offsets().items()}
        assigned = consumer.assignment()
        offsets = {place: offset for place, offset in wanted.items() if place in assigned}
        if not offsets:
            return not wanted
        with translate_errors("committing"):
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                logger.info("commit refused after a rebalance (%s); the records will be delivered again", exc)
                return False
        return len(offsets) == len(wanted)

    async def close(self) -> None:
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with translate_errors("leaving the consumer group"):
                await _bounded_stop(consumer.stop(), "leaving the consumer group")

    def assignment(self) -> frozenset[tuple[str, int]]:
        if self._consumer is None:
            return frozenset()
        return frozenset((place.topic, place.partition) for place in self._consumer.assignment())

    def _require(self) -> AIOKafkaConsumer:
        if self._closed:
            raise BusClosed("consumer is closed")
        if self._consumer is None:
            raise BusError("consumer is not started")
        return self._consumer


def _record(message: ConsumerRecord[bytes, bytes]) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value if message.value is not None else b"",
        headers=tuple(message.headers),
        timestamp=message.timestamp,
    )
