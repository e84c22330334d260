"""The schema registry: a JSON Schema per (module, event type), compiled once.

Built-in schemas come from the modules; configuration (``EVENTEYE_EVENT_SCHEMAS``
or ``[event_schemas]`` in ``eventeye.toml``) overrides them, and schemas saved
through the admin API override both. Every process re-reads saved schemas
when they change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fastjsonschema
from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.errors import InvalidInput, field_detail

Validator = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    field: str
    reason: str


def compile_schema(schema: dict[str, Any]) -> Validator:
    """Compile a JSON Schema, or raise ``InvalidInput`` saying what is wrong with it."""
    if not isinstance(schema, dict):
        raise InvalidInput("a schema must be a JSON object", details=[field_detail("schema", "not an object")])
    try:
        return fastjsonschema.compile(schema)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise InvalidInput("invalid JSON Schema", details=[field_detail("schema", str(exc))]) from exc


class SchemaRegistry:
    """Looks up and applies the schema of an event type."""

    def __init__(self, *, refresh_every: float = 2.0) -> None:
        self._builtin: dict[tuple[str, str], dict[str, Any]] = {}
        self._configured: dict[tuple[str, str], dict[str, Any]] = {}
        self._saved: dict[tuple[str, str], dict[str, Any]] = {}
        self._compiled: dict[tuple[str, str], Validator] = {}
        self._saved_version: tuple[int, datetime | None] | None = None
        self._checked_at = 0.0
        self.refresh_every = refresh_every

    def add_builtin(self, module: str, type: str, schema: dict[str, Any]) -> None:
        self._builtin[(module, type)] = schema
        self._rebuild()

    def configure(self, schemas: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Overrides from settings: ``{module: {type: schema}}``."""
        self._configured = {(m, t): s for m, types in schemas.items() for t, s in types.items()}
        self._rebuild()

    def _rebuild(self) -> None:
        merged = {**self._builtin, **self._configured, **self._saved}
        self._compiled = {key: compile_schema(schema) for key, schema in merged.items()}

    def schemas(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every effective schema."""
        return {**self._builtin, **self._configured, **self._saved}

    def knows(self, module: str, type: str) -> bool:
        return (module, type) in self._compiled

    def validate(self, module: str, type: str, payload: Any) -> SchemaViolation | None:
        """The first violation of the type's schema, or None; unknown types pass."""
        validator = self._compiled.get((module, type))
        if validator is None:
            return None
        try:
            validator(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            return _violation(exc)
        return None

    async def refresh(self, conn: AsyncConnection, *, force: bool = False) -> None:
        """Re-read saved schemas when they changed (checked at most every ``refresh_every`` s)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.refresh_every:
            return
        self._checked_at = now
        version = await pipeline_repository.latest_schema_change(conn)
        if version == self._saved_version and not force:
            return
        rows = await pipeline_repository.list_schemas(conn)
        self._saved = {(module, type): schema for module, type, schema, _ in rows}
        self._saved_version = version
        self._rebuild()


def _violation(exc: fastjsonschema.JsonSchemaValueException) -> SchemaViolation:
    path = [str(part) for part in (exc.path or [])[1:]]
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [name for name in exc.rule_definition or () if name not in exc.value]
        if missing:
            return SchemaViolation(field=".".join([*path, str(missing[0])]), reason="is required")
    reason = exc.message.removeprefix(exc.name or "").strip() or exc.message
    return SchemaViolation(field=".".join(path) or "$", reason=reason)
