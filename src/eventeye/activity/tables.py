"""The activity module's table: detections, with the period boundaries of the default gap.

Time is an integer of epoch microseconds (``time_us``): both databases
subtract, compare and index it the same way, so one gaps-and-islands query
runs unchanged on SQLite and PostgreSQL. ``starts`` / ``ends`` mark the
detections that open / close a period for the default gap (no other detection
of the same camera and group less than the gap before / after them); they are
kept exact at ingestion, so that the default query reads only those rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, SmallInteger, String, Table, Uuid, or_, text

from eventeye.core.storage.tables import metadata

# Byte-wise ordering on PostgreSQL: cheaper comparisons in the (camera, group, time) index.
camera_type = String(100).with_variant(String(100, collation="C"), "postgresql")

activity_detections = Table(
    "activity_detections",
    metadata,
    Column("id", Uuid, nullable=True),  # the pipeline event id; NULL for bulk-loaded rows
    Column("camera_id", camera_type, nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("grp", SmallInteger, nullable=False),
    Column("starts", Boolean, nullable=False),
    Column("ends", Boolean, nullable=False),
    Index("ix_activity_detections_camera_time", "camera_id", "grp", "time_us"),
    Index(
        "uq_activity_detections_id",
        "id",
        unique=True,
        postgresql_where=text("id IS NOT NULL"),
        sqlite_where=text("id IS NOT NULL"),
    ),
)

EDGE = or_(activity_detections.c.starts, activity_detections.c.ends)
"""A boundary row: queries use this very expression, so that each database matches it to the partial index."""

Index(
    "ix_activity_detections_edges",
    *(activity_detections.c[name] for name in ("camera_id", "grp", "time_us", "starts", "ends")),
    postgresql_where=EDGE,
    sqlite_where=EDGE,
)
