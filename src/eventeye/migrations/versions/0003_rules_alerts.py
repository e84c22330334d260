"""Rules and alerts: saved rules, rule state, alerts, their deliveries, webhooks.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from eventeye.core.storage.types import UTCDateTime, json_type

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("definition", json_type(), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rules"),
    )
    op.create_table(
        "rule_state",
        sa.Column("rule", sa.String(150), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("data", json_type(), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("rule", "key", name="pk_rule_state"),
    )
    due = sa.text("due_at IS NOT NULL")
    op.create_index("ix_rule_state_due_at", "rule_state", ["due_at"], postgresql_where=due, sqlite_where=due)
    if op.get_bind().dialect.name == "postgresql":
        # Every batch rewrites the states it touched: room in each page keeps those updates HOT.
        op.execute("ALTER TABLE rule_state SET (fillfactor = 50)")
    _create_alerts()
    _create_deliveries()
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.UniqueConstraint("name", name="uq_webhooks_name"),
    )


def _create_alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("rule", sa.String(150), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("module", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("event_ids", json_type(), nullable=False),
        sa.Column("payload", json_type(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_created_at", "alerts", ["created_at", "id"])
    op.create_index("ix_alerts_rule_created_at", "alerts", ["rule", "created_at", "id"])
    op.create_index("ix_alerts_module_created_at", "alerts", ["module", "created_at", "id"])


def _create_deliveries() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("alert_id", sa.Uuid, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_deliveries"),
    )
    op.create_index("ix_alert_deliveries_status_next_attempt_at", "alert_deliveries", ["status", "next_attempt_at"])
    op.create_index(
        "ix_alert_deliveries_channel_target_created_at",
        "alert_deliveries",
        ["channel", "target", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("webhooks")
    op.drop_index("ix_alert_deliveries_channel_target_created_at", "alert_deliveries")
    op.drop_index("ix_alert_deliveries_status_next_attempt_at", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_module_created_at", "alerts")
    op.drop_index("ix_alerts_rule_created_at", "alerts")
    op.drop_index("ix_alerts_created_at", "alerts")
    op.drop_table("alerts")
    op.drop_index("ix_rule_state_due_at", "rule_state")
    op.drop_table("rule_state")
    op.drop_table("rules")
