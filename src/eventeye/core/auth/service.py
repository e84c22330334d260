"""Users and applications: creation rules, login, API-key resolution. Callers own the transaction."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.auth import apikeys, passwords
from eventeye.core.auth import repository as auth_repository
from eventeye.core.auth.models import App, Principal, Scope, User
from eventeye.core.storage.engine import write_transaction
from eventeye.errors import InvalidInput, NotFound, field_detail

logger = logging.getLogger("eventeye.auth")


def now() -> datetime:
    return datetime.now(UTC)


def user_principal(user: User) -> Principal:
    scopes = {Scope.READ.value}
    if user.is_admin:
        scopes = {scope.value for scope in Scope}
    return Principal(kind="user", id=user.id, name=user.username, scopes=frozenset(scopes))


def app_principal(app: App) -> Principal:
    return Principal(kind="app", id=app.id, name=app.name, scopes=app.scopes)


async def create_user(
    conn: AsyncConnection,
    *,
    username: str,
    password: str,
    email: str | None,
    is_admin: bool,
    min_password_length: int,
) -> User:
    """Create a user with an argon2-hashed password; ``Conflict`` when the name is taken."""
    if len(password) < min_password_length:
        raise InvalidInput(
            "password is too short",
            details=[field_detail("password", f"must be at least {min_password_length} characters")],
        )
    user = User(
        id=uuid.uuid4(),
        username=username,
        email=email,
        is_admin=is_admin,
        created_at=now(),
        password_hash=passwords.hash_password(password),
    )
    return await auth_repository.create_user(conn, user=user)


async def authenticate(conn: AsyncConnection, *, username: str, password: str) -> User | None:
    """The user when the password matches, else None (in constant-ish time)."""
    user = await auth_repository.get_user_by_username(conn, username=username)
    if not passwords.verify_password(password, user.password_hash if user else None):
        return None
    return user


def validate_scopes(scopes: list[str]) -> frozenset[str]:
    known = {scope.value for scope in Scope}
    unknown = sorted(set(scopes) - known)
    if unknown:
        raise InvalidInput(
            "unknown scope",
            details=[
                field_detail("scopes", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
            ],
        )
    if not scopes:
        raise InvalidInput("no scope given", details=[field_detail("scopes", "at least one scope is required")])
    return frozenset(scopes)


async def create_app(conn: AsyncConnection, *, name: str, scopes: list[str]) -> tuple[App, str]:
    """Create an application; returns it with its API key, which is never shown again."""
    key = apikeys.generate_key()
    app = App(
        id=uuid.uuid4(),
        name=name,
        key_prefix=apikeys.display_prefix(key),
        scopes=validate_scopes(scopes),
        created_at=now(),
        revoked_at=None,
        last_used_at=None,
    )
    await auth_repository.create_app(conn, app=app, key_hash=apikeys.hash_key(key))
    return app, key


async def revoke_app(conn: AsyncConnection, *, name: str) -> None:
    revoked = await auth_repository.revoke_app(conn, name=name, at=now())
    if not revoked and await auth_repository.get_app_by_name(conn, name=name) is None:
        raise NotFound(f"no application named {name!r}")


@dataclass
class ApiKeyResolver:
    """Resolves API keys to applications with a short cache, and records last use.

    The cache keeps the ingestion path off the database; revocation through
    this process clears it at once, other processes see it within ``ttl``.
    """

    engine: AsyncEngine
    ttl: float
    touch_every: float = 60.0
    _cache: dict[str, tuple[App | None, float]] = field(default_factory=dict)
    _touched: dict[uuid.UUID, float] = field(default_factory=dict)
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _loading: dict[str, asyncio.Future[App | None]] = field(default_factory=dict)

    async def resolve(self, key: str) -> App | None:
        digest = apikeys.hash_key(key)
        cached = self._cache.get(digest)
        clock = time.monotonic()
        app = cached[0] if cached is not None and cached[1] > clock else await self._load(digest)
        if app is None or app.revoked_at is not None:
            return None
        await self._touch(app, clock)
        return app

    async def _load(self, digest: str) -> App | None:
        """Look a key up once, however many requests miss the cache at the same moment."""
        pending = self._loading.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[App | None] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        try:
            async with self.engine.connect() as conn:
                app = await auth_repository.get_app_by_key_hash(conn, key_hash=digest)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: the waiters re-raise it
            raise
        else:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (app, time.monotonic() + self.ttl)
            future.set_result(app)
            return app
        finally:
            del self._loading[digest]

    async def _touch(self, app: App, clock: float) -> None:
        if clock - self._touched.get(app.id, -self.touch_every) < self.touch_every:
            return
        self._touched[app.id] = clock
        # In the background: the caller's own transaction may hold the write lock.
        task = asyncio.create_task(self._write_last_used(app.id, now()))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write_last_used(self, app_id: uuid.UUID, at: datetime) -> None:
        try:
            async with write_transaction(self.engine) as conn:
                await auth_repository.touch_app(conn, app_id=app_id, at=at)
        except Exception:
            logger.warning("could not record last use of application %s", app_id, exc_info=True)

    async def drain(self) -> None:
        """Wait for pending last-use writes (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def invalidate(self) -> None:
        self._cache.clear()
