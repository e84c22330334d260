"""The plans module's tables: the catalogue, sync runs, the data version and the sync lease."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from eventeye.core.storage.tables import metadata
from eventeye.core.storage.types import UTCDateTime, json_type

plans = Table(
    "plans_plans",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provider", String(100), nullable=False),
    Column("base_event_id", String(100), nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("min_price", Float, nullable=False),
    Column("max_price", Float, nullable=False),
    Column("summary", LargeBinary, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("provider", "base_event_id", "event_id"),
    Index(None, "starts_at", "ends_at", "id"),
    Index(None, "provider", "last_seen_at"),
)
"""Every plan ever offered online. ``summary`` is the plan's `/search` JSON object, rendered once."""

sync_runs = Table(
    "plans_sync_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provider", String(100), nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("holder", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("error", Text, nullable=True),
    Column("feed_bytes", BigInteger, nullable=False),
    Column("new", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("invalid", Integer, nullable=False),
    Column("offline", Integer, nullable=False),
    Column("issues", json_type(), nullable=False),
    Index(None, "started_at"),
)

state = Table(
    "plans_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("data_version", BigInteger, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)
"""One row (id 1): the catalogue's data version, bumped by every sync that changes it."""

sync_lease = Table(
    "plans_sync_lease",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
"""Who may sync now: a holder whose lease has not expired excludes every other process."""
