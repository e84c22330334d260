"""What the auth repository returns and the request dependencies pass on."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal


class Scope(StrEnum):
    """What an application key may do."""

    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"
    CRITICALITY = "criticality"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    username: str
    email: str | None
    is_admin: bool
    created_at: datetime
    password_hash: str


@dataclass(frozen=True, slots=True)
class App:
    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (from a JWT) or an application (from an API key)."""

    kind: Literal["user", "app"]
    id: uuid.UUID
    name: str
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def has(self, scope: str) -> bool:
        return scope in self.scopes or self.is_admin
