"""Bringing alerts raised by any process to this process's hub.

- PostgreSQL: the transaction that stores an alert also issues ``NOTIFY``
  (delivered on commit only); each API process keeps one asyncpg connection
  that ``LISTEN``s, and after a lost connection it catches up from the table.
- SQLite: one process writes at a time and commits in ``created_at`` order,
  so a poller that reads new rows from the table sees every alert.

Either way the hub drops repeats, so an alert also published directly by
the process that raised it reaches each client once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.alerts.hub import AlertHub, decode_notification
from eventeye.core.alerts.repository import AlertFilter
from eventeye.core.storage.engine import read_transaction
from eventeye.core.tasks import wait_at_most

logger = logging.getLogger("eventeye.alerts.fanout")

CATCH_UP_GRACE = timedelta(seconds=5)
LISTENER_NAME = "eventeye-alerts-listener"
PAGE = 500


async def _publish_since(engine: AsyncEngine, hub: AlertHub, since: datetime) -> datetime:
    """Publish every alert created from ``since`` on; returns the newest ``created_at`` seen."""
    newest = since
    after: alerts_repository.Position | None = None
    while True:
        async with read_transaction(engine) as conn:
            page = await alerts_repository.alerts_after(conn, where=AlertFilter(start=since), after=after, limit=PAGE)
        for alert in page:
            hub.publish(alert)
            newest = max(newest, alert.created_at)
        if len(page) < PAGE:
            return newest
        after = (page[-1].created_at, page[-1].id)


class PostgresFeed:
    """LISTEN on a dedicated connection; catch up from the table after reconnecting."""

    def __init__(self, engine: AsyncEngine, dsn: str, hub: AlertHub, *, keepalive: float = 10.0) -> None:
        self.engine = engine
        self.dsn = dsn
        self.hub = hub
        self.keepalive = keepalive
        self.listening = asyncio.Event()
        self._lost_since: datetime | None = None
        self._fetches: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Listen until cancelled; raises when the connection is lost (the supervisor restarts it)."""
        conn: asyncpg.Connection = await asyncpg.connect(self.dsn, server_settings={"application_name": LISTENER_NAME})
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        try:
            await conn.add_listener(alerts_repository.NOTIFY_CHANNEL, self._on_notify)
            if self._lost_since is not None:
                await _publish_since(self.engine, self.hub, self._lost_since - CATCH_UP_GRACE)
            self.listening.set()
            await self._watch(conn, lost)
        finally:
            if self.listening.is_set():
                self._lost_since = datetime.now(UTC)
            self.listening.clear()
            if not conn.is_closed():
                await conn.close(timeout=2)

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        while not lost.is_set():
            if not await wait_at_most(lost.wait(), self.keepalive):
                await conn.fetchval("SELECT 1", timeout=self.keepalive)
        raise ConnectionError("the LISTEN connection was lost")

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            decoded = decode_notification(payload)
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed alert notification")
            return
        if not isinstance(decoded, uuid.UUID):
            self.hub.publish(decoded)
        elif not self.hub.seen(decoded):
            task = asyncio.get_running_loop().create_task(self._fetch(decoded))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)

    async def _fetch(self, alert_id: uuid.UUID) -> None:
        async with read_transaction(self.engine) as conn:
            alert = await alerts_repository.get_alert(conn, alert_id=alert_id)
        if alert is not None:
            self.hub.publish(alert)


class PollingFeed:
    """Reads new alerts from the table every ``interval`` seconds, or sooner when woken."""

    def __init__(self, engine: AsyncEngine, hub: AlertHub, *, interval: float) -> None:
        self.engine = engine
        self.hub = hub
        self.interval = interval
        self._wake = asyncio.Event()
        self.listening = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        watermark = datetime.now(UTC)
        self.listening.set()
        while True:
            await wait_at_most(self._wake.wait(), self.interval)
            self._wake.clear()
            watermark = await _publish_since(self.engine, self.hub, watermark)
