"""vehicles: detections and counts per make.

Revision ID: vehicles_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eventeye.core.storage.types import UTCDateTime

revision = "vehicles_0001"
down_revision = None
branch_labels = ("vehicles",)
depends_on = "0002"


def upgrade() -> None:
    op.create_table(
        "vehicles_detections",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("indexed_at", UTCDateTime, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("make", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vehicles_detections"),
    )
    op.create_index(
        "ix_vehicles_detections_indexed_at",
        "vehicles_detections",
        ["indexed_at", "id"],
        postgresql_include=["make"],
    )
    op.create_table(
        "vehicles_make_counts",
        sa.Column("make", sa.String(100), nullable=False),
        sa.Column("shard", sa.SmallInteger, nullable=False),
        sa.Column("detections", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("make", "shard", name="pk_vehicles_make_counts"),
    )


def downgrade() -> None:
    op.drop_table("vehicles_make_counts")
    op.drop_table("vehicles_detections")
