"""The hub: each alert once per subscriber, filters, and a slow subscriber dropped without slowing others."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from eventeye.core.alerts.hub import AlertHub, Dropped, Subscription, decode_notification
from eventeye.core.alerts.service import notification
from tests.core.alerts.helpers import alert


async def drain(subscription: Subscription, count: int) -> list[str]:
    received = []
    for _ in range(count):
        published = await asyncio.wait_for(subscription.next(), 1)
        received.append(published.alert.rule)
    return received


class TestPublish:
    async def test_each_alert_reaches_each_subscriber_once(self) -> None:
        hub = AlertHub()
        first, second = hub.subscribe(), hub.subscribe()
        item = alert("a")
        assert hub.publish(item)
        assert not hub.publish(item)  # the same alert by another path
        hub.publish(alert("b"))
        for subscription in (first, second):
            assert await drain(subscription, 2) == ["a", "b"]

    async def test_filters_by_rule_and_module(self) -> None:
        hub = AlertHub()
        by_rule, by_module = hub.subscribe(rule="x"), hub.subscribe(module="vehicles")
        hub.publish(alert("x", module="web"))
        hub.publish(alert("y", module="vehicles"))
        assert await drain(by_rule, 1) == ["x"]
        assert await drain(by_module, 1) == ["y"]

    async def test_a_slow_subscriber_is_dropped_and_the_others_are_not(self) -> None:
        hub = AlertHub(queue_limit=3)
        slow, fast = hub.subscribe(), hub.subscribe()
        for index in range(5):
            hub.publish(alert(str(index)))
            await drain(fast, 1)
        with pytest.raises(Dropped):
            await slow.next()
        hub.publish(alert("later"))
        assert await drain(fast, 1) == ["later"]

    async def test_closing_unsubscribes(self) -> None:
        hub = AlertHub()
        with hub.subscribe():
            assert hub.subscribers == 1
        assert hub.subscribers == 0

    async def test_remembers_a_bounded_number_of_ids(self) -> None:
        hub = AlertHub(remember=2)
        items = [alert() for _ in range(3)]
        for item in items:
            hub.publish(item)
        assert not hub.seen(items[0].id)
        assert hub.seen(items[2].id)


class TestNotifications:
    def test_carry_the_alert_when_it_fits(self) -> None:
        item = alert("a")
        assert decode_notification(notification(item)) == item

    def test_carry_only_the_id_when_too_large(self) -> None:
        item = alert("a")
        big = replace(item, payload={"blob": "x" * 10_000})
        assert decode_notification(notification(big)) == item.id
