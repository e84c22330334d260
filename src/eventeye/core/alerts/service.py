"""Alerts as one object per process: record (in the caller's transaction), publish, deliver, stream tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.config import Settings
from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.channels.base import Channel
from eventeye.core.alerts.channels.kafka import KafkaChannel
from eventeye.core.alerts.channels.log import LogChannel
from eventeye.core.alerts.channels.webhook import WebhookChannel
from eventeye.core.alerts.delivery import DeliveryWorker
from eventeye.core.alerts.fanout import PollingFeed, PostgresFeed
from eventeye.core.alerts.hub import AlertHub
from eventeye.core.alerts.repository import Alert
from eventeye.core.auth.models import Principal
from eventeye.core.auth.tokens import TokenIssuer
from eventeye.core.bus import Bus, create_bus
from eventeye.core.responses import dumps
from eventeye.core.storage.driver import asyncpg_dsn
from eventeye.core.tasks import TaskSpec
from eventeye.errors import Unauthorized

RAISED = Counter("eventeye_alerts_raised_total", "Alerts stored", ["module", "kind"])
NOTIFY_LIMIT = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
STREAM_PURPOSE = "alerts-stream"


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to store, with the sinks (``(channel, target)``) it goes to besides the SSE stream."""

    alert: Alert
    sinks: Sequence[tuple[str, str]] = field(default_factory=tuple)


def delivery_id(alert_id: uuid.UUID, channel: str, target: str) -> uuid.UUID:
    return uuid.uuid5(alert_id, f"{channel}:{target}")


def notification(alert: Alert) -> str:
    payload = dumps(alert.as_json())
    if len(payload) > NOTIFY_LIMIT:
        payload = dumps({"id": str(alert.id)})
    return payload.decode()


class Alerts:
    """Stores alerts with their deliveries, and brings them to this process's SSE clients."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, secret_key: str, bus: Bus | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.postgres = engine.dialect.name == "postgresql"
        self.hub = AlertHub(queue_limit=settings.alerts_client_queue)
        self.feed: PostgresFeed | PollingFeed
        if self.postgres:
            self.feed = PostgresFeed(engine, asyncpg_dsn(settings.resolved_database_url), self.hub)
        else:
            self.feed = PollingFeed(engine, self.hub, interval=settings.alerts_poll_interval.total_seconds())
        self.bus = bus or create_bus(settings)
        channels: dict[str, Channel] = {
            "log": LogChannel(),
            "kafka": KafkaChannel(self.bus),
            "webhook": WebhookChannel(timeout=settings.alerts_webhook_timeout.total_seconds()),
        }
        self.delivery = DeliveryWorker(engine, settings, channels)
        self.stream_tokens = TokenIssuer(
            secret_key=secret_key,
            issuer=settings.jwt_issuer,
            audience=f"{settings.jwt_audience}:{STREAM_PURPOSE}",
            ttl=settings.alerts_stream_token_ttl,
        )

    async def record(self, conn: AsyncConnection, items: Sequence[NewAlert]) -> list[Alert]:
        """Store alerts and their deliveries in ``conn``'s transaction; returns the ones not stored before."""
        if not items:
            return []
        stored = [item.alert for item in items]
        if self.postgres:
            notices = [notification(alert) for alert in stored]
            inserted = await alerts_repository.insert_and_notify(conn, items=stored, notices=notices)
        else:
            inserted = await alerts_repository.insert_alerts(conn, items=stored)
        fresh = [item for item in items if item.alert.id in inserted]
        rows = [_delivery_row(item.alert, channel, target) for item in fresh for channel, target in item.sinks]
        await alerts_repository.insert_deliveries(conn, rows=rows)
        for item in fresh:
            RAISED.labels(item.alert.module, item.alert.kind).inc()
        return [item.alert for item in fresh]

    async def committed(self, alerts: Sequence[Alert]) -> None:
        """After the transaction that recorded ``alerts`` committed: publish here, deliver soon."""
        if not alerts:
            return
        for alert in alerts:
            self.hub.publish(alert)
        self.delivery.wake()

    def issue_stream_token(self, principal: Principal) -> str:
        """A short-lived token that opens the alert stream only (``?token=``, for EventSource)."""
        return self.stream_tokens.issue(
            str(principal.id), kind=principal.kind, name=principal.name, scopes=sorted(principal.scopes)
        )

    def stream_principal(self, token: str) -> Principal:
        """Who a stream token was issued to, or ``Unauthorized``."""
        claims = self.stream_tokens.verify(token)
        try:
            kind = claims["kind"]
            if kind not in ("user", "app"):
                raise ValueError(kind)
            return Principal(
                kind=kind, id=uuid.UUID(claims["sub"]), name=str(claims["name"]), scopes=frozenset(claims["scopes"])
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("Invalid stream token") from exc

    def tasks(self, roles: set[str]) -> list[TaskSpec]:
        specs = []
        if "api" in roles:
            specs.append(TaskSpec("alerts-feed", self.feed.run, max_backoff=5.0))
        if "worker" in roles:
            specs.append(TaskSpec("alerts-delivery", self.delivery.run))
        return specs


def _delivery_row(alert: Alert, channel: str, target: str) -> dict[str, Any]:
    return {
        "id": delivery_id(alert.id, channel, target),
        "alert_id": alert.id,
        "channel": channel,
        "target": target,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": alert.created_at,
        "created_at": alert.created_at,
        "updated_at": alert.created_at,
    }
