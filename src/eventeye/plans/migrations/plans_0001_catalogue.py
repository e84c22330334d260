"""plans: the catalogue, sync runs, the data version and the sync lease.

Revision ID: plans_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eventeye.core.storage.types import UTCDateTime, json_type

revision = "plans_0001"
down_revision = None
branch_labels = ("plans",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "plans_plans",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("base_event_id", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("min_price", sa.Float, nullable=False),
        sa.Column("max_price", sa.Float, nullable=False),
        sa.Column("summary", sa.LargeBinary, nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans_plans"),
        sa.UniqueConstraint(
            "provider", "base_event_id", "event_id", name="uq_plans_plans_provider_base_event_id_event_id"
        ),
    )
    op.create_index("ix_plans_plans_starts_at_ends_at_id", "plans_plans", ["starts_at", "ends_at", "id"])
    op.create_index("ix_plans_plans_provider_last_seen_at", "plans_plans", ["provider", "last_seen_at"])
    op.create_table(
        "plans_sync_runs",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("feed_bytes", sa.BigInteger, nullable=False),
        sa.Column("new", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("invalid", sa.Integer, nullable=False),
        sa.Column("offline", sa.Integer, nullable=False),
        sa.Column("issues", json_type(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans_sync_runs"),
    )
    op.create_index("ix_plans_sync_runs_started_at", "plans_sync_runs", ["started_at"])
    op.create_table(
        "plans_state",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("data_version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans_state"),
    )
    op.create_table(
        "plans_sync_lease",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_plans_sync_lease"),
    )


def downgrade() -> None:
    op.drop_table("plans_sync_lease")
    op.drop_table("plans_state")
    op.drop_index("ix_plans_sync_runs_started_at", table_name="plans_sync_runs")
    op.drop_table("plans_sync_runs")
    op.drop_index("ix_plans_plans_provider_last_seen_at", table_name="plans_plans")
    op.drop_index("ix_plans_plans_starts_at_ends_at_id", table_name="plans_plans")
    op.drop_table("plans_plans")
