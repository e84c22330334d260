"""Alembic environment: runs on the connection eventeye hands over (see core.storage.migrations)."""

from __future__ import annotations

from alembic import context

from eventeye.core.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `eventeye migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
