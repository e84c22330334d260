"""Applying and checking Alembic migrations on an async engine.

The core's revisions live in ``eventeye/migrations/versions``; each module
keeps its own branch in ``eventeye/<module>/migrations`` (labelled with the
module's name), so ``upgrade heads`` brings every branch up to date.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import ALL_MODULES
from eventeye.core.storage.engine import write_transaction

PACKAGE_DIR = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    """An Alembic config pointing at the core and every module's revisions."""
    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    locations = [PACKAGE_DIR / "migrations" / "versions"]
    locations += [PACKAGE_DIR / name / "migrations" for name in ALL_MODULES]
    existing = [str(path) for path in locations if path.is_dir()]
    config.set_main_option("version_locations", " ".join(existing))
    config.set_main_option("path_separator", "space")
    return config


@lru_cache(maxsize=1)
def expected_heads() -> frozenset[str]:
    """The heads of every branch shipped with this installation."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every pending revision; concurrent upgrades run one after the other.

    A schema already current is only read: starting a process takes no write
    lock (on SQLite, the whole file's) unless there is something to apply.
    """
    if not await pending(engine):
        return
    async with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":  # SQLite: the write transaction already excludes others
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('eventeye.migrations'))"))
        await conn.run_sync(_upgrade)


def _applied(current: set[str]) -> set[str]:
    """Every revision implied by the recorded heads (ancestors and dependencies)."""
    script = ScriptDirectory.from_config(alembic_config())
    seen: set[str] = set()
    todo = list(current)
    while todo:
        revision = script.get_revision(todo.pop())
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        for parent in (*revision._normalized_down_revisions, *revision._normalized_resolved_dependencies):
            todo.append(parent)
    return seen


async def pending(engine: AsyncEngine) -> set[str]:
    """Heads that the database has not reached yet (empty when current)."""
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_heads)
    return set(expected_heads() - _applied(current))
