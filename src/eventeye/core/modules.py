"""What a module plugs into the core: background tasks and start/stop hooks.

Each module's ``register(registry)`` is called once per process; the core
never imports a module (the top-level ``eventeye.modules`` does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from eventeye.core.pipeline.processor import Handler, StoreHook
from eventeye.core.rules.schemas import Rule
from eventeye.core.runtime import Runtime
from eventeye.core.tasks import TaskFactory, TaskSpec

Role = Literal["api", "worker"]
Hook = Callable[[Runtime], Awaitable[None]]


@dataclass
class ModuleRegistry:
    """Collects what the enabled modules contribute to this process."""

    runtime: Runtime
    roles: set[Role] = field(default_factory=lambda: {"api", "worker"})
    tasks: list[tuple[Role, TaskSpec]] = field(default_factory=list)
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)

    def add_task(self, name: str, run: TaskFactory, *, role: Role = "worker") -> None:
        """Run ``run()`` in the background of processes with ``role`` (``serve`` has both)."""
        self.tasks.append((role, TaskSpec(name=name, run=run)))

    def add_handler(self, module: str, handler: Handler) -> None:
        """Process this module's events from the inbox (see ``core.pipeline.processor.Handler``)."""
        self.runtime.pipeline.add_handler(module, handler)

    def add_event_type(self, module: str, type: str, schema: dict[str, Any]) -> None:
        """Declare an event type with its built-in payload JSON Schema."""
        self.runtime.pipeline.add_event_type(module, type, schema)

    def add_store_hook(self, hook: StoreHook) -> None:
        """Run ``hook`` on every processed batch (the rules engine is one)."""
        self.runtime.pipeline.add_hook(hook)

    def add_rule(self, module: str, rule: Rule | dict[str, Any]) -> None:
        """Ship a default rule: it applies to ``module``'s events unless it names a module itself.

        The settings (``[[rules]]``) and ``/v1/rules`` may override or disable
        it by name; an invalid rule raises ``RuleConfigError`` at start-up.
        Example (the vehicles module)::

            registry.add_rule(
                "vehicles",
                {
                    "name": "vehicles.suspicious",
                    "kind": "match",
                    "types": ["detection"],
                    "when": [{"field": "Category", "op": "equals", "value": settings.suspicious_vehicle,
                              "case_insensitive": True}],
                    "sinks": [{"kind": "kafka", "topic": settings.vehicles_alerts_topic}],
                },
            )

        ``rule`` may also be a ``eventeye.core.rules.schemas.Rule``.
        """
        self.runtime.rules.add_default(module, rule)

    def add_startup(self, hook: Hook) -> None:
        self.on_start.append(hook)

    def add_shutdown(self, hook: Hook) -> None:
        self.on_stop.append(hook)

    def tasks_for(self, roles: set[Role]) -> list[TaskSpec]:
        return [spec for role, spec in self.tasks if role in roles]
