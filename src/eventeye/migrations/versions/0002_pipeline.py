"""Pipeline: inbox, errors and run-time payload schemas.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eventeye.core.storage.types import UTCDateTime, json_type

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("module", sa.String(32), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("source", sa.String(150), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_inbox"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "errors",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("module", sa.String(32), nullable=False),
        sa.Column("type", sa.String(255), nullable=True),
        sa.Column("source", sa.String(150), nullable=True),
        sa.Column("event_id", sa.Uuid, nullable=True),
        sa.Column("field", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_errors"),
    )
    op.create_index("ix_errors_created_at", "errors", ["created_at", "id"])
    op.create_index("ix_errors_kind_created_at", "errors", ["kind", "created_at", "id"])
    op.create_index("ix_errors_source_created_at", "errors", ["source", "created_at", "id"])
    op.create_table(
        "event_schemas",
        sa.Column("module", sa.String(32), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("schema", json_type(), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("module", "type", name="pk_event_schemas"),
    )


def downgrade() -> None:
    op.drop_table("event_schemas")
    op.drop_index("ix_errors_source_created_at", "errors")
    op.drop_index("ix_errors_kind_created_at", "errors")
    op.drop_index("ix_errors_created_at", "errors")
    op.drop_table("errors")
    op.drop_table("inbox")
