"""All SQL for users and applications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.auth.models import App, User
from eventeye.core.storage.tables import apps, users
from eventeye.errors import Conflict


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        email=row.email,
        is_admin=row.is_admin,
        created_at=row.created_at,
        password_hash=row.password_hash,
    )


def _app(row: Any) -> App:
    return App(
        id=row.id,
        name=row.name,
        key_prefix=row.key_prefix,
        scopes=frozenset(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


async def lock_users(conn: AsyncConnection) -> None:
    """Serialise first-user creation across processes (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('eventeye.users'))"))


async def count_users(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


async def get_user(conn: AsyncConnection, *, user_id: uuid.UUID) -> User | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def get_user_by_username(conn: AsyncConnection, *, username: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return _user(row) if row else None


async def create_user(conn: AsyncConnection, *, user: User) -> User:
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(users).values(
                    id=user.id,
                    username=user.username,
                    email=user.email,
                    password_hash=user.password_hash,
                    is_admin=user.is_admin,
                    created_at=user.created_at,
                )
            )
    except IntegrityError as exc:
        raise Conflict(
            f"username {user.username!r} is taken", details=[{"field": "username", "reason": "taken"}]
        ) from exc
    return user


async def create_app(conn: AsyncConnection, *, app: App, key_hash: str) -> App:
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(apps).values(
                    id=app.id,
                    name=app.name,
                    key_hash=key_hash,
                    key_prefix=app.key_prefix,
                    scopes=sorted(app.scopes),
                    created_at=app.created_at,
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"application {app.name!r} exists", details=[{"field": "name", "reason": "taken"}]) from exc
    return app


async def get_app_by_key_hash(conn: AsyncConnection, *, key_hash: str) -> App | None:
    row = (await conn.execute(select(apps).where(apps.c.key_hash == key_hash))).first()
    return _app(row) if row else None


async def get_app_by_name(conn: AsyncConnection, *, name: str) -> App | None:
    row = (await conn.execute(select(apps).where(apps.c.name == name))).first()
    return _app(row) if row else None


async def list_apps(conn: AsyncConnection) -> list[App]:
    return [_app(row) for row in await conn.execute(select(apps).order_by(apps.c.name))]


async def revoke_app(conn: AsyncConnection, *, name: str, at: datetime) -> bool:
    result = await conn.execute(
        update(apps).where(apps.c.name == name, apps.c.revoked_at.is_(None)).values(revoked_at=at)
    )
    return bool(result.rowcount)


async def touch_app(conn: AsyncConnection, *, app_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(update(apps).where(apps.c.id == app_id).values(last_used_at=at))
