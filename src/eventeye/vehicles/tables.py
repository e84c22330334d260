"""The vehicles module's tables: detections, and the count per make as a projection of them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Table, Uuid

from eventeye.core.storage.tables import metadata
from eventeye.core.storage.types import UTCDateTime

vehicles_detections = Table(
    "vehicles_detections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("indexed_at", UTCDateTime, nullable=False),
    Column("year", Integer, nullable=False),
    Column("make", String(100), nullable=False),
    Column("model", String(100), nullable=False),
    Column("category", String(100), nullable=False),
    # Newest first, and counts per make over a time range (an index-only scan on PostgreSQL).
    Index("ix_vehicles_detections_indexed_at", "indexed_at", "id", postgresql_include=["make"]),
)

# Kept in the transaction that stores the detections, so /stats and totals need no full scan.
# Each batch adds to one of a few shards of a make's count, so that concurrent workers seldom
# wait on each other's row locks; a make's count is the sum of its shards.
vehicles_make_counts = Table(
    "vehicles_make_counts",
    metadata,
    Column("make", String(100), primary_key=True),
    Column("shard", SmallInteger, primary_key=True),
    Column("detections", BigInteger, nullable=False),
)
