"""Rule state is kept per (group of rules, key): rows of the earlier per-rule layout are dropped.

The rules that read the same events now share one state row per key (see
``eventeye.core.rules.groups``). States of the earlier layout cannot be
placed in a group here (groups derive from the rules in effect), so their
rules start counting afresh: streaks and windows from zero, silences from
the next event.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM rule_state WHERE rule NOT LIKE '~%'")


def downgrade() -> None:
    op.execute("DELETE FROM rule_state WHERE rule LIKE '~%'")
