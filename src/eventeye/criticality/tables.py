"""The criticality tables: every status change, and one row per consumer app."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, String, Table

from eventeye.core.storage.tables import metadata
from eventeye.core.storage.types import UTCDateTime

# SQLite only auto-assigns an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
ID_TYPE = BigInteger().with_variant(Integer(), "sqlite")

changes = Table(
    "criticality_changes",
    metadata,
    Column("id", ID_TYPE, Identity(), primary_key=True),
    Column("app_name", String(150), nullable=False),
    Column("current_status", Integer, nullable=False),
    Column("change_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # The latest state is the greatest (change_at, id): one backward index step.
    Index(None, "change_at", "id"),
    Index(None, "app_name", "id"),
    # AUTOINCREMENT: SQLite never hands out an id twice, even after deletes.
    sqlite_autoincrement=True,
)

# No index on last_poll_at: every poll rewrites it, and an index would turn
# PostgreSQL's in-place (HOT) updates into index writes; the table is small.
consumers = Table(
    "criticality_consumers",
    metadata,
    Column("app_name", String(150), primary_key=True),
    Column("first_poll_at", UTCDateTime, nullable=False),
    Column("last_poll_at", UTCDateTime, nullable=False),
    Column("polls", BigInteger, nullable=False),
    Column("notified_id", BigInteger, nullable=True),
    Column("notified_status", Integer, nullable=True),
    Column("notified_change_at", UTCDateTime, nullable=True),
    Column("notified_at", UTCDateTime, nullable=True),
)
