"""PostgreSQL fan-out: alerts raised while the LISTEN connection is down still reach the hub, once each."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.fanout import LISTENER_NAME
from eventeye.core.alerts.hub import Subscription
from eventeye.core.alerts.repository import NOTIFY_CHANNEL, AlertFilter
from eventeye.core.alerts.service import NewAlert
from eventeye.core.storage.engine import write_transaction
from tests.core.alerts.helpers import alert
from tests.core.conftest import RunApp


async def received(subscription: Subscription, count: int) -> list[str]:
    return [(await asyncio.wait_for(subscription.next(), 10)).alert.rule for _ in range(count)]


async def test_a_lost_listener_catches_up(run_app: RunApp, backend: str, engine: AsyncEngine) -> None:
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    async with run_app() as running:
        alerts = running.runtime.alerts
        await asyncio.wait_for(alerts.feed.listening.wait(), 10)
        with alerts.hub.subscribe() as subscription:
            async with engine.begin() as conn:
                killed = await conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": LISTENER_NAME},
                )
                assert killed.scalar() is True
            for _ in range(200):
                if not alerts.feed.listening.is_set():
                    break
                await asyncio.sleep(0.01)
            async with write_transaction(engine) as conn:  # raised elsewhere while nobody listens here
                await alerts.record(conn, [NewAlert(alert(f"missed-{i}")) for i in range(3)])
            assert sorted(await received(subscription, 3)) == ["missed-0", "missed-1", "missed-2"]
            await asyncio.wait_for(alerts.feed.listening.wait(), 10)
            async with write_transaction(engine) as conn:
                await alerts.record(conn, [NewAlert(alert("live"))])
            assert await received(subscription, 1) == ["live"]
            await asyncio.sleep(0.3)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(subscription.next(), 0.2)  # nothing twice


async def test_new_alerts_are_stored_and_announced_once_in_order(backend: str, engine: AsyncEngine) -> None:
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    heard: list[str] = []
    async with engine.connect() as listening:
        raw = (await listening.get_raw_connection()).driver_connection
        await raw.add_listener(NOTIFY_CHANNEL, lambda *args: heard.append(args[3]))
        first, second, third = alert("first"), alert("second"), alert("third")
        async with write_transaction(engine) as conn:
            await alerts_repository.insert_alerts(conn, items=[second])
        async with write_transaction(engine) as conn:
            new = await alerts_repository.insert_and_notify(conn, items=[third, second, first], notices=["3", "2", "1"])
            assert new == {third.id, first.id}
            await asyncio.sleep(0.2)
            assert heard == []  # not before the commit
        for _ in range(100):
            if len(heard) == 2:
                break
            await asyncio.sleep(0.02)
        assert heard == ["3", "1"]
        async with engine.connect() as conn:
            stored = await alerts_repository.alerts_after(conn, where=AlertFilter(), after=None, limit=10)
        assert {(item.rule, item.event_ids[0]) for item in stored} == {
            (item.rule, item.event_ids[0]) for item in (first, second, third)
        }
