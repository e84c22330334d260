"""The in-process alert hub: every SSE client of this process subscribes here.

Alerts reach the hub once each, whichever path brought them (this process's
own processor, PostgreSQL notifications, the table poller): the hub remembers
recent ids and ignores a repeat. Each subscriber has a bounded queue; one
that falls ``queue_limit`` alerts behind is dropped (it may reconnect with
``Last-Event-ID``) so that it never slows the others down.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from types import TracebackType

import orjson
from prometheus_client import Counter, Gauge
from sse_starlette import ServerSentEvent

from eventeye.core.alerts.repository import Alert
from eventeye.core.responses import dumps

SUBSCRIBERS = Gauge("eventeye_alert_subscribers", "SSE subscribers connected to this process")
PUBLISHED = Counter("eventeye_alerts_published_total", "Alerts published to this process's hub")
DROPPED = Counter("eventeye_alert_subscribers_dropped_total", "SSE subscribers dropped for falling behind")


class Dropped(Exception):
    """The subscriber fell too far behind and was dropped."""


class Published:
    """An alert as subscribers receive it, its JSON and SSE frame rendered once for all of them."""

    __slots__ = ("alert", "_json", "_frame")

    def __init__(self, alert: Alert) -> None:
        self.alert = alert
        self._json: str | None = None
        self._frame: bytes | None = None

    @property
    def json(self) -> str:
        if self._json is None:
            self._json = dumps(self.alert.as_json()).decode()
        return self._json

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = sse_frame(str(self.alert.id), self.json)
        return self._frame


def sse_frame(event_id: str, data: str) -> bytes:
    """``event: alert`` with ``id`` and JSON ``data``, encoded."""
    return ServerSentEvent(data=data, event="alert", id=event_id).encode()


class Subscription:
    """One subscriber's view of the hub: filtered, queued, bounded."""

    def __init__(self, hub: AlertHub, *, rule: str | None, module: str | None, limit: int) -> None:
        self.hub = hub
        self.rule = rule
        self.module = module
        self.limit = limit
        self.dropped = False
        self._queue: deque[Published] = deque()
        self._ready = asyncio.Event()

    def matches(self, alert: Alert) -> bool:
        return (self.rule is None or alert.rule == self.rule) and (self.module is None or alert.module == self.module)

    def offer(self, message: Published) -> None:
        if self.dropped:
            return
        if len(self._queue) >= self.limit:
            self.dropped = True
            self._queue.clear()
            DROPPED.inc()
        else:
            self._queue.append(message)
        self._ready.set()

    async def next(self) -> Published:
        """The next alert; raises ``Dropped`` once the subscriber has been dropped."""
        while not self._queue:
            if self.dropped:
                raise Dropped()
            self._ready.clear()
            await self._ready.wait()
        if self.dropped:
            raise Dropped()
        return self._queue.popleft()

    def close(self) -> None:
        self.hub.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AlertHub:
    """Publish alerts to this process's subscribers, each alert once."""

    def __init__(self, *, queue_limit: int = 1000, remember: int = 100_000) -> None:
        self.queue_limit = queue_limit
        self.remember = remember
        self._subscribers: set[Subscription] = set()
        self._seen: dict[uuid.UUID, None] = {}

    def subscribe(self, *, rule: str | None = None, module: str | None = None) -> Subscription:
        subscription = Subscription(self, rule=rule, module=module, limit=self.queue_limit)
        self._subscribers.add(subscription)
        SUBSCRIBERS.inc()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            SUBSCRIBERS.dec()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def seen(self, alert_id: uuid.UUID) -> bool:
        return alert_id in self._seen

    def publish(self, alert: Alert) -> bool:
        """Hand ``alert`` to every matching subscriber; False when it was published before."""
        if alert.id in self._seen:
            return False
        self._seen[alert.id] = None
        if len(self._seen) > self.remember:
            del self._seen[next(iter(self._seen))]
        PUBLISHED.inc()
        message = Published(alert)
        for subscription in list(self._subscribers):
            if subscription.matches(alert):
                subscription.offer(message)
        return True


def decode_notification(payload: str) -> Alert | uuid.UUID:
    """A notification carries the whole alert when it fits, else only its id."""
    data = orjson.loads(payload)
    if "rule" in data:
        return Alert.from_json(data)
    return uuid.UUID(data["id"])
