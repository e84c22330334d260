"""API shapes for users, tokens and applications."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eventeye.core.auth.models import Scope

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@ -]{0,149}$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=150, pattern=NAME_PATTERN)
    password: str = Field(min_length=1, max_length=1024)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    is_admin: bool = Field(default=False, description="Honoured only when an admin creates the user")


class UserRead(BaseModel):
    id: uuid.UUID
    username: str
    email: str | None
    is_admin: bool
    created_at: datetime


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=150, pattern=NAME_PATTERN)
    scopes: list[str] = Field(default_factory=lambda: [Scope.INGEST.value], max_length=10)


class AppRead(BaseModel):
    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class AppCreated(AppRead):
    key: str = Field(description="The API key; shown only once")
