"""criticality: status changes and consumer apps.

Revision ID: criticality_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eventeye.core.storage.types import UTCDateTime

revision = "criticality_0001"
down_revision = None
branch_labels = ("criticality",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "criticality_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False),
        sa.Column("app_name", sa.String(150), nullable=False),
        sa.Column("current_status", sa.Integer, nullable=False),
        sa.Column("change_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_criticality_changes"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_criticality_changes_change_at_id", "criticality_changes", ["change_at", "id"])
    op.create_index("ix_criticality_changes_app_name_id", "criticality_changes", ["app_name", "id"])
    op.create_table(
        "criticality_consumers",
        sa.Column("app_name", sa.String(150), nullable=False),
        sa.Column("first_poll_at", UTCDateTime, nullable=False),
        sa.Column("last_poll_at", UTCDateTime, nullable=False),
        sa.Column("polls", sa.BigInteger, nullable=False),
        sa.Column("notified_id", sa.BigInteger, nullable=True),
        sa.Column("notified_status", sa.Integer, nullable=True),
        sa.Column("notified_change_at", UTCDateTime, nullable=True),
        sa.Column("notified_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("app_name", name="pk_criticality_consumers"),
    )


def downgrade() -> None:
    op.drop_table("criticality_consumers")
    op.drop_index("ix_criticality_changes_app_name_id", "criticality_changes")
    op.drop_index("ix_criticality_changes_change_at_id", "criticality_changes")
    op.drop_table("criticality_changes")
