"""How far each SQLite inbox file has been processed.

On SQLite the inbox moved to a file of its own beside the database (its
writers no longer wait for the database's one write lock); each processed
batch records here, in its own transaction, the last entry it stored.
Events still in the ``inbox`` table are processed first.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_progress",
        sa.Column("inbox", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("inbox", name="pk_inbox_progress"),
    )


def downgrade() -> None:
    op.drop_table("inbox_progress")
