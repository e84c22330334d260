"""The claim at the SQL level: separate transactions race for one consumer's state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage.engine import write_transaction
from eventeye.criticality import repository as criticality_repository
from eventeye.criticality import service as criticality_service
from eventeye.criticality.repository import State

T0 = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)


async def publish(engine: AsyncEngine, status: int, change_at: datetime) -> int:
    async with write_transaction(engine) as conn:
        return await criticality_repository.create_change(
            conn, app_name="producer", current_status=status, change_at=change_at, received_at=datetime.now(UTC)
        )


async def poll(engine: AsyncEngine, app_name: str) -> State | None:
    async with write_transaction(engine) as conn:
        return await criticality_service.poll(conn, app_name=app_name, at=datetime.now(UTC))


async def test_racing_transactions_claim_a_state_once(engine: AsyncEngine) -> None:
    for round_number in range(3):
        processed_id = await publish(engine, 1 + round_number, T0 + timedelta(minutes=round_number))
        claims = await asyncio.gather(*(poll(engine, "racer") for _ in range(15)))
        assert [claim.id for claim in claims if claim] == [processed_id]


async def test_a_claim_never_moves_back_to_an_older_state(engine: AsyncEngine) -> None:
    newer = await publish(engine, 4, T0 + timedelta(hours=1))
    assert (await poll(engine, "consumer")) == State(id=newer, current_status=4, change_at=T0 + timedelta(hours=1))
    await publish(engine, 2, T0)
    assert await poll(engine, "consumer") is None
    async with engine.connect() as conn:
        consumer = await criticality_repository.get_consumer(conn, app_name="consumer")
    assert consumer is not None
    assert consumer.notified is not None
    assert consumer.notified.id == newer
    assert consumer.polls == 2
