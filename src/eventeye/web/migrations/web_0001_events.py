"""web: events and sessions.

Revision ID: web_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eventeye.core.storage.types import UTCDateTime, json_type

revision = "web_0001"
down_revision = None
branch_labels = ("web",)
depends_on = "0002"


def upgrade() -> None:
    op.create_table(
        "web_events",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("app", sa.String(150), nullable=False),
        sa.Column("known_type", sa.Boolean, nullable=False),
        sa.Column("data", json_type(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_events"),
    )
    op.create_index("ix_web_events_session", "web_events", ["session_id", "occurred_at", "id"])
    op.create_index("ix_web_events_category_name", "web_events", ["category", "name", "occurred_at", "id"])
    op.create_index("ix_web_events_time", "web_events", ["occurred_at", "id"])
    op.create_index("ix_web_events_app", "web_events", ["app", "occurred_at"])
    op.create_table(
        "web_sessions",
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_web_sessions"),
    )


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("web_events")
