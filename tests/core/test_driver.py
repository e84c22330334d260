"""Single statements on the PostgreSQL driver: parameters by name, 503 when the database is out of reach."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import bindparam, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.storage.driver import DRIVER_APPLICATION_NAME, DriverPool, DriverStatement
from eventeye.errors import Unavailable
from eventeye.process import running


async def test_parameters_go_by_name_and_literals_keep_their_values(driver: DriverPool) -> None:
    n = func.generate_series(1, 10).column_valued("n")
    statement = DriverStatement(
        select(n.label("n"), literal("fixed").label("tag"))
        .where(n > bindparam("low"), n < bindparam("high"))
        .order_by(n.desc())
        .limit(1)
    )
    row = await driver.fetchrow(statement, {"high": 7, "low": 2})
    assert row is not None
    assert (row["n"], row["tag"]) == (6, "fixed")
    assert await driver.fetchrow(statement, {"high": 2, "low": 7}) is None


async def test_an_unreachable_database_is_unavailable_not_an_error() -> None:
    pool = DriverPool("postgresql+asyncpg://postgres@127.0.0.1:9/nothing", size=1)  # nothing listens on 9
    with pytest.raises(Unavailable) as raised:
        await pool.fetchrow(DriverStatement(select(literal(1))), {})
    assert raised.value.status_code == 503
    await pool.close()


async def test_lost_connections_answer_unavailable_then_recover(driver: DriverPool, engine: AsyncEngine) -> None:
    one = DriverStatement(select(literal(1)))
    assert await driver.fetchrow(one, {}) is not None
    async with engine.connect() as conn:
        await conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'eventeye%'"
            )
        )
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append((await driver.fetchrow(one, {})) is not None)
        except Unavailable:
            outcomes.append(False)
    assert outcomes[-1] is True


async def test_a_process_on_a_shared_engine_closes_its_driver_pool_when_it_stops(
    make_settings: Callable[..., Settings], engine: AsyncEngine, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("statements run on the driver on PostgreSQL only")

    async def connections() -> int:
        async with engine.connect() as conn:
            query = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = :name"
            )
            return int((await conn.execute(query, {"name": DRIVER_APPLICATION_NAME})).scalar_one())

    assert await connections() == 0
    async with running(make_settings(), {"api"}, engine=engine, modules=[]) as registry:
        assert registry.runtime.driver is not None
        await registry.runtime.driver.execute("SELECT 1")
        assert await connections() == 1
    assert await connections() == 0  # and the shared engine still answers
