"""The shared ``metadata`` and the core's tables. Modules add theirs to the same metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, Uuid

from eventeye.core.storage.types import UTCDateTime, json_type

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(320), nullable=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

apps = Table(
    "apps",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(150), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("scopes", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
)

# The durable log between accepting and processing (embedded inbox).
inbox = Table(
    "inbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", Uuid, nullable=False),
    Column("module", String(32), nullable=False),
    Column("type", String(255), nullable=False),
    Column("source", String(150), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)

# SQLite: how far each inbox file has been processed (see ``core.pipeline.inbox_file``),
# written in the same transaction as what its entries stored.
inbox_progress = Table(
    "inbox_progress",
    metadata,
    Column("inbox", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

# Everything that did not become a stored event, with the reason.
errors = Table(
    "errors",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("module", String(32), nullable=False),
    Column("type", String(255), nullable=True),
    Column("source", String(150), nullable=True),
    Column("event_id", Uuid, nullable=True),
    Column("field", String(255), nullable=True),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=True),
    Column("received_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_errors_created_at", "created_at", "id"),
    Index("ix_errors_kind_created_at", "kind", "created_at", "id"),
    Index("ix_errors_source_created_at", "source", "created_at", "id"),
)

# Payload schemas added or replaced at run time (built-ins live in the modules).
event_schemas = Table(
    "event_schemas",
    metadata,
    Column("module", String(32), primary_key=True),
    Column("type", String(255), primary_key=True),
    Column("schema", json_type(), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Rules defined or overridden through the API (module defaults and configured rules live in code and settings).
rules = Table(
    "rules",
    metadata,
    Column("name", String(150), primary_key=True),
    Column("definition", json_type(), nullable=True),
    Column("enabled", Boolean, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Per (rule, key) evaluation state: streaks, windows, last-seen times; ``version`` guards concurrent writers.
rule_state = Table(
    "rule_state",
    metadata,
    Column("rule", String(150), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(32), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("data", json_type(), nullable=False),
    Column("due_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
# Partial: rows without a timer (most of them) never touch it, so their updates stay HOT on PostgreSQL.
Index(
    "ix_rule_state_due_at",
    rule_state.c.due_at,
    postgresql_where=rule_state.c.due_at.is_not(None),
    sqlite_where=rule_state.c.due_at.is_not(None),
)

# Raised alerts; ``id`` is derived from rule + key + trigger, so raising one twice stores it once.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("rule", String(150), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("module", String(32), nullable=False),
    Column("key", String(255), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("event_ids", json_type(), nullable=False),
    Column("payload", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_alerts_created_at", "created_at", "id"),
    Index("ix_alerts_rule_created_at", "rule", "created_at", "id"),
    Index("ix_alerts_module_created_at", "module", "created_at", "id"),
)

# The outbox of alert deliveries (webhooks, Kafka topics, the log), with each one's status.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("alert_id", Uuid, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_alert_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_alert_deliveries_channel_target_created_at", "channel", "target", "created_at", "id"),
)

# Webhook endpoints that alerts are POSTed to, signed with their own secret.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("max_attempts", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
