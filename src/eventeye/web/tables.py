"""The web module's tables: events, and sessions as a projection of them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Uuid

from eventeye.core.storage.tables import metadata
from eventeye.core.storage.types import UTCDateTime, json_type

web_events = Table(
    "web_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("session_id", String(255), nullable=False),
    Column("category", String(100), nullable=False),
    Column("name", String(100), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("app", String(150), nullable=False),
    Column("known_type", Boolean, nullable=False),
    Column("data", json_type(), nullable=False),
    Index("ix_web_events_session", "session_id", "occurred_at", "id"),
    Index("ix_web_events_category_name", "category", "name", "occurred_at", "id"),
    Index("ix_web_events_time", "occurred_at", "id"),
    Index("ix_web_events_app", "app", "occurred_at"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("session_id", String(255), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("event_count", Integer, nullable=False),
)
