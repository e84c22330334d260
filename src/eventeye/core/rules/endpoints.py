"""``/v1/rules``: the rules in effect (read), and changing them (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from eventeye.core.auth.dependencies import AdminAccess, DbConn, ReadAccess, ReadConn, RuntimeDep
from eventeye.core.rules import service as rules_service
from eventeye.core.rules.catalog import Effective
from eventeye.core.rules.schemas import Rule, RuleBody, RuleOut

router = APIRouter(prefix="/v1/rules", tags=["rules"])

RuleName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,149}$", description="The rule's name")]


def _out(effective: Effective) -> RuleOut:
    return RuleOut(
        rule=effective.rule,
        origin=effective.origin,
        overridden=effective.overridden,
        updated_at=effective.updated_at,
    )


@router.get("", response_model=list[RuleOut])
async def list_rules(conn: ReadConn, runtime: RuntimeDep, _: ReadAccess) -> list[RuleOut]:
    """Every rule: modules' defaults, the settings' and the API's, enabled or not."""
    await runtime.rules.refresh(conn, force=True)
    return [_out(effective) for effective in runtime.rules.effective().values()]


@router.get("/{name}", response_model=RuleOut)
async def get_rule(name: RuleName, conn: ReadConn, runtime: RuntimeDep, _: ReadAccess) -> RuleOut:
    return _out(await rules_service.get(conn, runtime.rules, name=name))


@router.post("", status_code=201, response_model=RuleOut)
async def create_rule(rule: Rule, conn: DbConn, runtime: RuntimeDep, _: AdminAccess) -> RuleOut:
    """Add a rule; it applies to events processed from now on."""
    return _out(await rules_service.create(conn, runtime.rules, rule=rule, at=datetime.now(UTC)))


@router.put("/{name}", response_model=RuleOut)
async def replace_rule(name: RuleName, body: RuleBody, conn: DbConn, runtime: RuntimeDep, _: AdminAccess) -> RuleOut:
    """Create or replace a rule; replacing a module's or the settings' rule overrides it."""
    effective = await rules_service.replace(conn, runtime.rules, name=name, body=body, at=datetime.now(UTC))
    return _out(effective)


@router.post("/{name}/disable", response_model=RuleOut)
async def disable_rule(name: RuleName, conn: DbConn, runtime: RuntimeDep, _: AdminAccess) -> RuleOut:
    """Stop evaluating a rule (its state is kept)."""
    return _out(await rules_service.set_enabled(conn, runtime.rules, name=name, enabled=False, at=datetime.now(UTC)))


@router.post("/{name}/enable", response_model=RuleOut)
async def enable_rule(name: RuleName, conn: DbConn, runtime: RuntimeDep, _: AdminAccess) -> RuleOut:
    return _out(await rules_service.set_enabled(conn, runtime.rules, name=name, enabled=True, at=datetime.now(UTC)))


@router.delete("/{name}", status_code=204)
async def delete_rule(name: RuleName, conn: DbConn, runtime: RuntimeDep, _: AdminAccess) -> Response:
    """Delete a rule made through the API, or the API's override of a module's or the settings' rule."""
    await rules_service.delete(conn, runtime.rules, name=name)
    return Response(status_code=204)
