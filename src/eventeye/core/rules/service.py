"""Changing rules through the API: create, replace, enable/disable, delete. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from eventeye.core.alerts import repository as alerts_repository
from eventeye.core.rules import repository as rules_repository
from eventeye.core.rules.catalog import Effective
from eventeye.core.rules.engine import RulesEngine
from eventeye.core.rules.schemas import Rule, RuleBody, WebhookSink
from eventeye.errors import Conflict, InvalidInput, NotFound, field_detail


async def check_sinks(conn: AsyncConnection, rule: RuleBody) -> None:
    """``InvalidInput`` naming each webhook sink whose webhook does not exist."""
    wanted = {index: sink.webhook for index, sink in enumerate(rule.sinks) if isinstance(sink, WebhookSink)}
    known = await alerts_repository.webhooks_by_name(conn, names=list(wanted.values()))
    details = [
        field_detail(f"sinks.{index}.webhook", f"no webhook named {name!r} (create it with POST /v1/webhooks)")
        for index, name in wanted.items()
        if name not in known
    ]
    if details:
        raise InvalidInput("the rule names unknown webhooks", details=details)


async def get(conn: AsyncConnection, engine: RulesEngine, *, name: str) -> Effective:
    await engine.refresh(conn, force=True)
    found = engine.effective().get(name)
    if found is None:
        raise NotFound(f"no rule {name!r}")
    return found


async def _saved(conn: AsyncConnection, engine: RulesEngine, name: str) -> Effective:
    await engine.refresh(conn, force=True)
    return engine.effective()[name]


async def create(conn: AsyncConnection, engine: RulesEngine, *, rule: Rule, at: datetime) -> Effective:
    """Add a new rule; ``Conflict`` when the name is taken (by any rule)."""
    await engine.refresh(conn, force=True)
    if rule.name in engine.effective():
        raise Conflict(f"a rule named {rule.name!r} exists; replace it with PUT /v1/rules/{rule.name}")
    await check_sinks(conn, rule)
    definition = rule.model_dump(mode="json", exclude={"name"})
    await rules_repository.save_rule(conn, name=rule.name, definition=definition, enabled=None, at=at)
    return await _saved(conn, engine, rule.name)


async def replace(conn: AsyncConnection, engine: RulesEngine, *, name: str, body: RuleBody, at: datetime) -> Effective:
    """Create or replace rule ``name`` (overriding a module's or the settings' rule of that name)."""
    rule = Rule.model_validate({**body.model_dump(), "name": name})
    await check_sinks(conn, rule)
    definition = rule.model_dump(mode="json", exclude={"name"})
    await rules_repository.save_rule(conn, name=name, definition=definition, enabled=None, at=at)
    return await _saved(conn, engine, name)


async def set_enabled(
    conn: AsyncConnection, engine: RulesEngine, *, name: str, enabled: bool, at: datetime
) -> Effective:
    await get(conn, engine, name=name)
    await rules_repository.set_enabled(conn, name=name, enabled=enabled, at=at)
    return await _saved(conn, engine, name)


async def delete(conn: AsyncConnection, engine: RulesEngine, *, name: str) -> None:
    """Delete a rule made through the API, or the API's override of a default one."""
    found = await get(conn, engine, name=name)
    if not await rules_repository.delete_rule(conn, name=name):
        raise Conflict(
            f"rule {name!r} is defined by the {'settings' if found.origin == 'config' else 'module'}; "
            f"disable it with POST /v1/rules/{name}/disable"
        )
    if found.origin == "api":
        await rules_repository.delete_states(conn, rule=name)
        engine.cache.clear()
    await engine.refresh(conn, force=True)
