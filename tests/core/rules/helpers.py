"""Building facts and rules for the rules tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eventeye.core.pipeline.envelope import Fact
from eventeye.core.rules.schemas import Rule

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def fact(
    at: datetime | float = 0.0,
    *,
    module: str = "web",
    type: str = "page interaction/pageview",
    source: str = "shop",
    event_id: uuid.UUID | None = None,
    **attributes: Any,
) -> Fact:
    """A fact at ``T0 + at`` seconds (or at ``at``)."""
    when = at if isinstance(at, datetime) else T0 + timedelta(seconds=at)
    return Fact(
        event_id=event_id or uuid.uuid4(),
        module=module,
        type=type,
        source=source,
        occurred_at=when,
        attributes=attributes,
    )


def rule(**fields: Any) -> Rule:
    fields.setdefault("name", "test.rule")
    return Rule.model_validate(fields)
