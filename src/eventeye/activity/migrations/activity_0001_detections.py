"""activity: detections with their period boundaries.

Revision ID: activity_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "activity_0001"
down_revision = None
branch_labels = ("activity",)
depends_on = "0002"

TABLE = "activity_detections"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid, nullable=True),
        sa.Column(
            "camera_id", sa.String(100).with_variant(sa.String(100, collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("grp", sa.SmallInteger, nullable=False),
        sa.Column("starts", sa.Boolean, nullable=False),
        sa.Column("ends", sa.Boolean, nullable=False),
    )
    op.create_index("ix_activity_detections_camera_time", TABLE, ["camera_id", "grp", "time_us"])
    # Rendered as the queries render it (``starts = 1 OR ends = 1`` on SQLite), so that the planner matches it.
    edges = sa.or_(sa.column("starts", sa.Boolean), sa.column("ends", sa.Boolean))
    op.create_index(
        "ix_activity_detections_edges",
        TABLE,
        ["camera_id", "grp", "time_us", "starts", "ends"],
        postgresql_where=edges,
        sqlite_where=edges,
    )
    present = sa.text("id IS NOT NULL")
    op.create_index(
        "uq_activity_detections_id", TABLE, ["id"], unique=True, postgresql_where=present, sqlite_where=present
    )


def downgrade() -> None:
    op.drop_table(TABLE)
