"""Long-running background tasks, supervised: a task that crashes is logged and restarted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger("eventeye.tasks")

TaskFactory = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    run: TaskFactory
    max_backoff: float = 30.0


class Supervisor:
    """Runs each task forever, restarting it with backoff after a crash."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, spec: TaskSpec) -> None:
        self._tasks[spec.name] = asyncio.create_task(self._keep_running(spec), name=spec.name)

    async def _keep_running(self, spec: TaskSpec) -> None:
        backoff = 0.5
        while True:
            try:
                await spec.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background task %s crashed; restarting in %.1fs", spec.name, backoff)
                await asyncio.sleep(backoff)
                backoff = min(spec.max_backoff, backoff * 2)

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
