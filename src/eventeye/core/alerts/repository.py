"""All SQL of alerts: the alert history, the delivery outbox, webhooks and PostgreSQL notifications."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.storage.dialects import insert_ignore, insert_many_ignore_returning
from eventeye.core.storage.driver import in_transaction
from eventeye.core.storage.tables import alert_deliveries, alerts, webhooks

NOTIFY_CHANNEL = "eventeye_alerts"
Position = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class Alert:
    id: uuid.UUID
    rule: str
    kind: str
    module: str
    key: str
    severity: str
    event_ids: list[str]
    payload: dict[str, Any]
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "rule": self.rule,
            "kind": self.kind,
            "module": self.module,
            "key": self.key,
            "severity": self.severity,
            "event_ids": self.event_ids,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        return cls(
            id=uuid.UUID(data["id"]),
            rule=data["rule"],
            kind=data["kind"],
            module=data["module"],
            key=data["key"],
            severity=data["severity"],
            event_ids=list(data["event_ids"]),
            payload=dict(data["payload"]),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


_ALERT_FIELDS = ("id", "rule", "kind", "module", "key", "severity", "event_ids", "payload", "created_at")


def _alert(row: Any) -> Alert:
    return Alert(**{name: getattr(row, name) for name in _ALERT_FIELDS})


async def insert_alerts(conn: AsyncConnection, *, items: Sequence[Alert]) -> set[uuid.UUID]:
    """Insert alerts, skipping ids already stored; returns the ids that were new."""
    rows = [{name: getattr(alert, name) for name in _ALERT_FIELDS} for alert in items]
    return await insert_many_ignore_returning(conn, alerts, rows)


async def insert_and_notify(conn: AsyncConnection, *, items: Sequence[Alert], notices: Sequence[str]) -> set[uuid.UUID]:
    """PostgreSQL: insert alerts as ``insert_alerts`` and, for each new one, send its notice: one round trip.

    Listeners hear the notices, in the order given, when (and only if) the transaction commits.
    """
    columns: dict[str, Any] = {name: [getattr(alert, name) for alert in items] for name in _ALERT_FIELDS}
    columns["event_ids"] = [orjson.dumps(ids).decode() for ids in columns["event_ids"]]
    columns["payload"] = [orjson.dumps(payload).decode() for payload in columns["payload"]]
    arguments = [columns[name] for name in _ALERT_FIELDS]
    records = await (await in_transaction(conn)).fetch(_INSERT_AND_NOTIFY, *arguments, list(notices), NOTIFY_CHANNEL)
    return {uuid.UUID(bytes=record[0].bytes) for record in records}  # asyncpg's UUID type: the standard one


# Run on the driver, once per processed batch that raises alerts (as rule states are: see rules.repository).
_INSERT_AND_NOTIFY = """
    WITH given AS (
        SELECT * FROM unnest(
            $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[],
            $9::timestamptz[], $10::text[]
        ) WITH ORDINALITY AS given(id, rule, kind, module, key, severity, event_ids, payload, created_at, notice, place)
    ), inserted AS (
        INSERT INTO alerts (id, rule, kind, module, key, severity, event_ids, payload, created_at)
        SELECT id, rule, kind, module, key, severity, event_ids, payload, created_at FROM given
        ON CONFLICT (id) DO NOTHING
        RETURNING id
    )
    -- OFFSET 0 keeps the subquery whole: its rows are sorted before the notices are sent.
    SELECT id, pg_notify($11, notice) FROM (
        SELECT given.id, given.notice FROM given JOIN inserted ON inserted.id = given.id ORDER BY given.place OFFSET 0
    ) AS fresh
"""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    rule: str | None = None
    module: str | None = None
    key: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _conditions(where: AlertFilter) -> list[ColumnElement[bool]]:
    pairs = ((alerts.c.rule, where.rule), (alerts.c.module, where.module), (alerts.c.key, where.key))
    conditions: list[ColumnElement[bool]] = [column == value for column, value in pairs if value is not None]
    if where.start is not None:
        conditions.append(alerts.c.created_at >= where.start)
    if where.end is not None:
        conditions.append(alerts.c.created_at < where.end)
    return conditions


async def list_alerts(conn: AsyncConnection, *, where: AlertFilter, limit: int, after: Position | None) -> list[Alert]:
    """Alerts newest first, keyset-paginated on (created_at, id)."""
    conditions = _conditions(where)
    if after is not None:
        at, last_id = after
        conditions.append(or_(alerts.c.created_at < at, and_(alerts.c.created_at == at, alerts.c.id < last_id)))
    statement = select(alerts).where(*conditions).order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit)
    return [_alert(row) for row in await conn.execute(statement)]


async def alerts_after(conn: AsyncConnection, *, where: AlertFilter, after: Position | None, limit: int) -> list[Alert]:
    """Alerts oldest first after ``after`` (exclusive) and from ``where.start`` (inclusive): for replay."""
    conditions = _conditions(where)
    if after is not None:
        at, last_id = after
        conditions.append(or_(alerts.c.created_at > at, and_(alerts.c.created_at == at, alerts.c.id > last_id)))
    statement = select(alerts).where(*conditions).order_by(alerts.c.created_at, alerts.c.id).limit(limit)
    return [_alert(row) for row in await conn.execute(statement)]


async def get_alert(conn: AsyncConnection, *, alert_id: uuid.UUID) -> Alert | None:
    row = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).first()
    return _alert(row) if row else None


async def alerts_by_ids(conn: AsyncConnection, *, ids: Sequence[uuid.UUID]) -> list[Alert]:
    if not ids:
        return []
    statement = select(alerts).where(alerts.c.id.in_(ids)).order_by(alerts.c.created_at, alerts.c.id)
    return [_alert(row) for row in await conn.execute(statement)]


# Deliveries (the outbox)

DeliveryStatus = Literal["pending", "delivered", "dead"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: uuid.UUID
    alert_id: uuid.UUID
    channel: str
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name: getattr(row, name) for name in Delivery.__slots__})


async def insert_deliveries(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert_ignore(conn, alert_deliveries, ["id"]), rows)


async def claim_deliveries(
    conn: AsyncConnection, *, now: datetime, limit: int, lease_until: datetime
) -> list[tuple[Delivery, Alert]]:
    """Due deliveries with their alerts, leased until ``lease_until`` (other workers skip them meanwhile)."""
    due = (
        select(alert_deliveries.c.id)
        .where(alert_deliveries.c.status == "pending", alert_deliveries.c.next_attempt_at <= now)
        .order_by(alert_deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids: list[uuid.UUID] = list((await conn.execute(due)).scalars())
    if not ids:
        return []
    lease = update(alert_deliveries).where(alert_deliveries.c.id.in_(ids)).values(next_attempt_at=lease_until)
    await conn.execute(lease)
    statement = (
        select(alert_deliveries, *[alerts.c[name].label(f"alert__{name}") for name in _ALERT_FIELDS])
        .join(alerts, alerts.c.id == alert_deliveries.c.alert_id)
        .where(alert_deliveries.c.id.in_(ids))
        .order_by(alerts.c.created_at, alerts.c.id)
    )
    rows = await conn.execute(statement)
    return [(_delivery(row), Alert(**{name: getattr(row, f"alert__{name}") for name in _ALERT_FIELDS})) for row in rows]


async def record_outcomes(conn: AsyncConnection, *, rows: list[dict[str, Any]]) -> None:
    """Store attempt outcomes: ``id``, ``status``, ``attempts``, ``next_attempt_at``, ``last_*``, times."""
    if not rows:
        return
    statement = (
        update(alert_deliveries)
        .where(alert_deliveries.c.id == bindparam("b_id"))
        .values(
            status=bindparam("status"),
            attempts=bindparam("attempts"),
            next_attempt_at=bindparam("next_attempt_at"),
            last_status=bindparam("last_status"),
            last_error=bindparam("last_error"),
            updated_at=bindparam("updated_at"),
            delivered_at=bindparam("delivered_at"),
        )
    )
    await conn.execute(statement, [{**row, "b_id": row["id"]} for row in rows])


async def list_deliveries(
    conn: AsyncConnection,
    *,
    channel: str,
    target: str,
    status: str | None,
    limit: int,
    after: Position | None,
) -> list[Delivery]:
    """A channel target's deliveries, newest first, keyset-paginated on (created_at, id)."""
    table = alert_deliveries.c
    conditions = [table.channel == channel, table.target == target]
    if status is not None:
        conditions.append(table.status == status)
    if after is not None:
        at, last_id = after
        conditions.append(or_(table.created_at < at, and_(table.created_at == at, table.id < last_id)))
    statement = select(alert_deliveries).where(*conditions).order_by(table.created_at.desc(), table.id.desc())
    return [_delivery(row) for row in await conn.execute(statement.limit(limit))]


async def retry_delivery(
    conn: AsyncConnection, *, delivery_id: uuid.UUID, channel: str, target: str, at: datetime
) -> bool:
    """Put a dead delivery back in the queue with a fresh count of attempts."""
    statement = (
        update(alert_deliveries)
        .where(
            alert_deliveries.c.id == delivery_id,
            alert_deliveries.c.channel == channel,
            alert_deliveries.c.target == target,
            alert_deliveries.c.status == "dead",
        )
        .values(status="pending", attempts=0, next_attempt_at=at, updated_at=at)
    )
    return bool((await conn.execute(statement)).rowcount)


# Webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    id: uuid.UUID
    name: str
    url: str
    secret: str
    max_attempts: int | None
    created_at: datetime


def _webhook(row: Any) -> Webhook:
    return Webhook(**{name: getattr(row, name) for name in Webhook.__slots__})


async def create_webhook(conn: AsyncConnection, *, webhook: Webhook) -> bool:
    """Store a webhook; False when the name is taken."""
    values = {name: getattr(webhook, name) for name in Webhook.__slots__}
    inserted = await insert_many_ignore_returning(conn, webhooks, [values], key="name")
    return bool(inserted)


async def list_webhooks(conn: AsyncConnection) -> list[Webhook]:
    return [_webhook(row) for row in await conn.execute(select(webhooks).order_by(webhooks.c.name))]


async def get_webhook(conn: AsyncConnection, *, name: str) -> Webhook | None:
    row = (await conn.execute(select(webhooks).where(webhooks.c.name == name))).first()
    return _webhook(row) if row else None


async def webhooks_by_name(conn: AsyncConnection, *, names: Sequence[str]) -> dict[str, Webhook]:
    if not names:
        return {}
    rows = await conn.execute(select(webhooks).where(webhooks.c.name.in_(sorted(set(names)))))
    return {row.name: _webhook(row) for row in rows}


async def delete_webhook(conn: AsyncConnection, *, name: str) -> bool:
    return bool((await conn.execute(delete(webhooks).where(webhooks.c.name == name))).rowcount)
