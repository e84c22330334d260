"""Rule definitions: what a rule looks at, when it fires, and where its alerts go.

One model serves the admin API, ``[[rules]]`` in ``eventeye.toml`` and the
modules' default rules, so all three are validated alike. Example::

    Rule(
        name="activity.presence",
        kind="consecutive",
        module="activity",
        key=["camera_id"],
        when=[Condition(field="type", op="in", values=["pedestrian", "bicycle"])],
        count=5,
    )
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

RuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,149}$")]
FieldPath = Annotated[str, StringConstraints(pattern=r"^[^.]+(\.[^.]+)*$", max_length=255)]
Scalar = str | int | float | bool
Kind = Literal["match", "consecutive", "absence", "rate"]
Severity = Literal["info", "warning", "critical"]
MAX_WINDOW = timedelta(days=7)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_timedelta="float")


class _Condition(_Strict):
    field: FieldPath = Field(description="Attribute path, dotted for nested values (`data.host`)")
    negate: bool = Field(default=False, description="Holds when the test does not")


class Equals(_Condition):
    op: Literal["equals"]
    value: Scalar
    case_insensitive: bool = False


class In(_Condition):
    op: Literal["in"]
    values: list[Scalar] = Field(min_length=1, max_length=1000)
    case_insensitive: bool = False


class Range(_Condition):
    """``min <= value <= max`` on numbers; either bound may be left out, not both."""

    op: Literal["range"]
    min: float | None = None
    max: float | None = Field(default=None, validate_default=True)

    @field_validator("max")
    @classmethod
    def _bounded(cls, value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("min")
        if value is None and low is None:
            raise ValueError("give min, max or both")
        if value is not None and low is not None and value < low:
            raise ValueError("must not be below min")
        return value


class Exists(_Condition):
    op: Literal["exists"]


class Regex(_Condition):
    """A regular expression searched in the value's text (anchor it with ``^...$`` to match whole)."""

    op: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=500)
    case_insensitive: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


Condition = Annotated[Equals | In | Range | Exists | Regex, Field(discriminator="op")]


class LogSink(_Strict):
    kind: Literal["log"]
    level: Literal["info", "warning", "error"] = "warning"


class KafkaSink(_Strict):
    kind: Literal["kafka"]
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")


class WebhookSink(_Strict):
    kind: Literal["webhook"]
    webhook: str = Field(min_length=1, max_length=100, description="The name of a webhook (`/v1/webhooks`)")


Sink = Annotated[LogSink | KafkaSink | WebhookSink, Field(discriminator="kind")]

_NEEDS = {"count": ("consecutive", "rate"), "window": ("rate",), "silence": ("absence",)}


class RuleBody(_Strict):
    """A rule without its name (the body of ``PUT /v1/rules/{name}``)."""

    kind: Kind
    description: str = Field(default="", max_length=1000)
    severity: Severity = "warning"
    module: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Only this module's events")
    types: list[Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=100, description="Only these event types (any when empty)"
    )
    key: list[FieldPath] = Field(
        default_factory=list, max_length=5, description="Attributes whose values name a sequence (global when empty)"
    )
    scope: list[Condition] = Field(
        default_factory=list, max_length=20, description="Events the rule looks at; others are invisible to it"
    )
    when: list[Condition] = Field(
        default_factory=list,
        max_length=20,
        description="What a matching event satisfies (all of them); for `consecutive`, others break the streak",
    )
    count: int | None = Field(default=None, ge=1, le=100_000, validate_default=True)
    window: timedelta | None = Field(default=None, validate_default=True)
    buckets: int = Field(default=20, ge=1, le=120, description="`rate`: the window is counted in this many slices")
    silence: timedelta | None = Field(default=None, validate_default=True)
    sinks: list[Sink] = Field(default_factory=list, max_length=10, description="Besides the SSE stream")
    enabled: bool = True

    @field_validator("count", "window", "silence")
    @classmethod
    def _kind_fields(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:
            return value
        wanted = kind in _NEEDS[str(info.field_name)]
        if wanted and value is None:
            raise ValueError(f"required for a {kind!r} rule")
        if not wanted and value is not None:
            raise ValueError(f"not used by a {kind!r} rule")
        if isinstance(value, timedelta) and not timedelta(0) < value <= MAX_WINDOW:
            raise ValueError(f"must be more than 0 and at most {MAX_WINDOW.days} days")
        return value


class Rule(RuleBody):
    """A named rule. Every alert goes to the SSE stream; ``sinks`` adds other destinations."""

    name: RuleName


Origin = Literal["module", "config", "api"]


class RuleOut(BaseModel):
    """A rule as in effect, with where it comes from."""

    model_config = ConfigDict(ser_json_timedelta="float")

    rule: Rule
    origin: Origin = Field(description="Who defined it: a module's default, the settings, or the API")
    overridden: bool = Field(description="The API changed a module's or the settings' definition")
    updated_at: datetime | None = None
