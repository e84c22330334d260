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
    return await criticality_service.poll(engine, app_name=app_name, at=datetime.now(UTC), known=set())


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


async def test_before_any_state_a_poll_tells_nothing(engine: AsyncEngine) -> None:
    assert await poll(engine, "early") is None
    async with engine.connect() as conn:
        consumer = await criticality_repository.get_consumer(conn, app_name="early")
    assert consumer is not None
    assert consumer.notified is None


async def test_recorded_polls_add_up_and_the_last_poll_only_moves_forward(engine: AsyncEngine) -> None:
    polls = [("a", T0), ("b", T0 + timedelta(seconds=5)), ("a", T0 + timedelta(seconds=9)), ("a", T0)]
    async with write_transaction(engine) as conn:
        await criticality_repository.record_polls(conn, criticality_service.count_polls(polls))
    async with write_transaction(engine) as conn:  # a round of polls of other times, written late
        late = [("a", T0 - timedelta(hours=1)), ("b", T0 + timedelta(hours=1))]
        await criticality_repository.record_polls(conn, criticality_service.count_polls(late))
    async with engine.connect() as conn:
        a = await criticality_repository.get_consumer(conn, app_name="a")
        b = await criticality_repository.get_consumer(conn, app_name="b")
    assert a is not None
    assert b is not None
    assert (a.polls, a.first_poll_at, a.last_poll_at) == (4, T0 - timedelta(hours=1), T0 + timedelta(seconds=9))
    assert (b.polls, b.first_poll_at, b.last_poll_at) == (2, T0 + timedelta(seconds=5), T0 + timedelta(hours=1))
