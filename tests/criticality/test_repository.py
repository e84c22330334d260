"""The claim at the SQL level: separate transactions race for one consumer's state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage.driver import DriverPool
from eventeye.core.storage.engine import write_transaction
from eventeye.criticality import repository as criticality_repository
from eventeye.criticality import service as criticality_service
from eventeye.criticality.repository import State
from eventeye.criticality.schemas import StatusChange

T0 = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlalchemy", "driver"])
async def driver(request: pytest.FixtureRequest, database_url: str, backend: str) -> AsyncIterator[DriverPool | None]:
    """How single statements run: through SQLAlchemy, or on the PostgreSQL driver directly."""
    if request.param == "sqlalchemy":
        yield None
        return
    if backend != "postgresql":
        pytest.skip("statements run on the driver on PostgreSQL only")
    pool = DriverPool(database_url, size=4)
    yield pool
    await pool.close()


async def publish(engine: AsyncEngine, driver: DriverPool | None, status: int, change_at: datetime) -> int:
    change = StatusChange.model_validate({"current_status": status, "Change_at": change_at})
    return await criticality_service.publish(engine, driver, app_name="producer", change=change, at=datetime.now(UTC))


async def poll(engine: AsyncEngine, driver: DriverPool | None, app_name: str) -> State | None:
    return await criticality_service.poll(engine, driver, app_name=app_name, at=datetime.now(UTC), known=set())


async def test_racing_transactions_claim_a_state_once(engine: AsyncEngine, driver: DriverPool | None) -> None:
    for round_number in range(3):
        processed_id = await publish(engine, driver, 1 + round_number, T0 + timedelta(minutes=round_number))
        claims = await asyncio.gather(*(poll(engine, driver, "racer") for _ in range(15)))
        assert [claim.id for claim in claims if claim] == [processed_id]


async def test_a_claim_never_moves_back_to_an_older_state(engine: AsyncEngine, driver: DriverPool | None) -> None:
    newer = await publish(engine, driver, 4, T0 + timedelta(hours=1))
    assert (await poll(engine, driver, "consumer")) == State(
        id=newer, current_status=4, change_at=T0 + timedelta(hours=1)
    )
    await publish(engine, driver, 2, T0)
    assert await poll(engine, driver, "consumer") is None
    async with engine.connect() as conn:
        consumer = await criticality_repository.get_consumer(conn, app_name="consumer")
    assert consumer is not None
    assert consumer.notified is not None
    assert consumer.notified.id == newer


async def test_before_any_state_a_poll_tells_nothing(engine: AsyncEngine, driver: DriverPool | None) -> None:
    assert await poll(engine, driver, "early") is None
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
