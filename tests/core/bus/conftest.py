"""Fixtures for the bus tests: the same tests run on the in-memory twin and on a real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from eventeye.config import Settings
from eventeye.core.bus import Bus, Consumer, KafkaBus, KafkaTimeouts, MemoryBus, Record

# A rebalance on tansu takes about half the session timeout: keep it short.
FAST = KafkaTimeouts(request=5.0, session=1.0, heartbeat=0.2, retry_backoff=0.1, metadata_max_age=1.0)


def kafka_settings(bootstrap_servers: str, **overrides: Any) -> Settings:
    """Settings naming every Kafka value the bus reads, so the environment cannot change them."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap_servers,
        "kafka_security_protocol": "PLAINTEXT",
        "kafka_enable_idempotence": False,
        "kafka_group_id": f"group-{uuid.uuid4().hex[:8]}",
    }
    return Settings(**(values | overrides))


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.slow)])
def bus(request: pytest.FixtureRequest) -> Bus:
    if request.param == "memory":
        return MemoryBus()
    servers: str = request.getfixturevalue("kafka_bootstrap_servers")
    return KafkaBus(kafka_settings(servers), timeouts=FAST)


@pytest.fixture
def topic() -> str:
    return f"topic-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def group() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    """Closes every publisher and consumer a test opened, even when it fails."""
    async with AsyncExitStack() as exits:
        yield exits


async def drain(consumer: Consumer, count: int, *, within: float = 15.0) -> list[Record]:
    """Poll until ``count`` records came (or ``within`` seconds passed); returns what came."""
    records: list[Record] = []
    deadline = time.monotonic() + within
    while len(records) < count and time.monotonic() < deadline:
        records.extend(await consumer.poll(wait=0.2))
    return records


async def settle(*members: Consumer, partitions: int, within: float = 15.0) -> None:
    """Wait until the members' assignments are disjoint and cover ``partitions`` partitions."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        held = [member.assignment() for member in members]
        if all(held) and sum(map(len, held)) == partitions == len(frozenset().union(*held)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"assignments never settled: {[sorted(m.assignment()) for m in members]}")
