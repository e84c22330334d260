"""Criticality logic: publishing changes, telling each consumer the latest state once, listings.

Services never commit: callers pass the connection of their transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.config import Settings
from eventeye.core.storage.driver import DriverPool
from eventeye.core.storage.engine import single_statement
from eventeye.criticality import repository as criticality_repository
from eventeye.criticality.repository import Change, Consumer, Polls, State
from eventeye.criticality.schemas import StatusChange
from eventeye.errors import InvalidInput, field_detail

T = TypeVar("T")
MAX_KNOWN = 100_000  # consumer apps remembered per process as having a row
C = TypeVar("C")


def now() -> datetime:
    return datetime.now(UTC)


def check_status(change: StatusChange, settings: Settings) -> None:
    """``InvalidInput`` naming ``current_status`` when it is outside the configured range."""
    low, high = settings.criticality_status_min, settings.criticality_status_max
    if not low <= change.current_status <= high:
        raise InvalidInput(
            "current_status is out of range",
            details=[field_detail("current_status", f"must be between {low} and {high}")],
        )


async def publish(
    engine: AsyncEngine, driver: DriverPool | None, *, app_name: str, change: StatusChange, at: datetime
) -> int:
    """Record a change posted by ``app_name`` in one autocommitted statement; returns its processed_id."""
    values = {
        "app_name": app_name,
        "current_status": change.current_status,
        "change_at": change.change_at,
        "received_at": at,
    }
    return await _on_its_own(engine, driver, lambda conn: criticality_repository.create_change(conn, values=values))


async def poll(
    engine: AsyncEngine, driver: DriverPool | None, *, app_name: str, at: datetime, known: set[str]
) -> State | None:
    """The latest state if ``app_name`` has not been given it yet (it now is), else None.

    One conditional UPDATE, a transaction of its own, claims the latest state
    for the app and decides: of concurrent polls of one app, one tells it. A
    poll with nothing new changes no row, so it writes nothing. The app's row
    is created first unless ``known`` (this process's record of the apps that
    have one) names it. The poll itself is recorded apart (``poll_log``).
    """
    if app_name not in known:
        async with single_statement(engine) as conn:
            await criticality_repository.ensure_consumer(conn, app_name=app_name, at=at)
        if len(known) >= MAX_KNOWN:
            known.clear()
        known.add(app_name)
    return await _on_its_own(
        engine, driver, lambda conn: criticality_repository.claim_latest(conn, app_name=app_name, at=at)
    )


async def _on_its_own(
    engine: AsyncEngine,
    driver: DriverPool | None,
    statement: Callable[[AsyncConnection | DriverPool], Awaitable[T]],
) -> T:
    """Run one autocommitted statement: on the driver's pool (PostgreSQL), else on an engine connection."""
    if driver is not None:
        return await statement(driver)
    async with single_statement(engine) as conn:
        return await statement(conn)


def count_polls(polls: list[tuple[str, datetime]]) -> list[Polls]:
    """Each app's polls among ``polls`` (app, time): how many, first and last."""
    by_app: dict[str, Polls] = {}
    for app_name, at in polls:
        seen = by_app.get(app_name)
        if seen is None:
            by_app[app_name] = Polls(app_name, 1, at, at)
        else:
            by_app[app_name] = Polls(app_name, seen.count + 1, min(seen.first_at, at), max(seen.last_at, at))
    return list(by_app.values())


def format_instant(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``, the shape ``/secapp/update`` answers with."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def secapp_state(state: State) -> dict[str, object]:
    """The body of ``GET /secapp/update`` for a state the app is being told."""
    return {
        "current_status": state.current_status,
        "status_change_id": state.id,
        "Change_at": format_instant(state.change_at),
    }


@dataclass(frozen=True, slots=True)
class Page(Generic[T, C]):
    """Items and the cursor of the next page (None on the last)."""

    items: list[T]
    next_cursor: C | None


async def history(conn: AsyncConnection, *, cursor: int | None, producer: str | None, limit: int) -> Page[Change, int]:
    """A page of changes, newest received first; ``cursor`` continues a previous page."""
    rows = await criticality_repository.list_changes(conn, before=cursor, producer=producer, limit=limit + 1)
    items = rows[:limit]
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


async def list_consumers(conn: AsyncConnection, *, cursor: str | None, limit: int) -> Page[Consumer, str]:
    """A page of consumer apps by name; ``cursor`` continues a previous page."""
    rows = await criticality_repository.list_consumers(conn, after=cursor, limit=limit + 1)
    items = rows[:limit]
    return Page(items=items, next_cursor=items[-1].app_name if len(rows) > limit else None)


def is_overdue(consumer: Consumer, *, at: datetime, timeout: timedelta) -> bool:
    """The consumer has not polled for ``timeout``."""
    return at - consumer.last_poll_at > timeout
