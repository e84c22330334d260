"""Loading the enabled modules (``EVENTEYE_MODULES``): each exports ``router`` and ``register``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from fastapi import APIRouter

from eventeye.config import ALL_MODULES, Settings
from eventeye.core.modules import ModuleRegistry

logger = logging.getLogger("eventeye.modules")


@dataclass(frozen=True, slots=True)
class LoadedModule:
    name: str
    router: APIRouter
    register: Callable[[ModuleRegistry], None]


def _load(name: str) -> LoadedModule | None:
    try:
        package: ModuleType = importlib.import_module(f"eventeye.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"eventeye.{name}":
            return None  # a module not built into this installation
        raise
    if not hasattr(package, "router") or not hasattr(package, "register"):
        logger.warning("eventeye.%s exports no router/register; not loaded", name)
        return None
    return LoadedModule(name=name, router=package.router, register=package.register)


def enabled_modules(settings: Settings) -> list[LoadedModule]:
    """The enabled modules that this installation ships, in the configured order."""
    return [module for name in settings.modules if (module := _load(name)) is not None]


def all_modules() -> list[LoadedModule]:
    """Every module this installation ships, enabled or not."""
    return [module for name in ALL_MODULES if (module := _load(name)) is not None]
