"""Fixtures of the plans tests: a misbehaving provider and syncers pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.plans.handlers import build_syncer
from eventeye.plans.sync import Syncer
from tests.plans.provider import FakeProvider, running_provider

FAST = {
    "plans_provider_timeout": timedelta(seconds=0.5),
    "plans_provider_retries": 2,
    "plans_provider_backoff": timedelta(milliseconds=10),
    "plans_provider_deadline": timedelta(seconds=5),
}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The app of these tests runs the plans module alone: no other module's background work."""
    return make_settings(modules=("plans",))


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_provider() as server:
        yield server


@pytest.fixture
def make_syncer(
    make_settings: Callable[..., Settings], engine: AsyncEngine, provider: FakeProvider
) -> Callable[..., Syncer]:
    """A syncer of ``provider`` on the test database (each call: a process of its own)."""

    def make(*, engine_: AsyncEngine | None = None, **overrides: Any) -> Syncer:
        settings = make_settings(**{"plans_provider_url": provider.url, **FAST, **overrides})
        return build_syncer(settings, engine_ or engine)

    return make


@pytest.fixture
def syncer(make_syncer: Callable[..., Syncer]) -> Syncer:
    return make_syncer()
