"""Long-running background tasks, supervised: a task that crashes is logged and restarted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger("eventeye.tasks")

TaskFactory = Callable[[], Awaitable[None]]
STOP_TIMEOUT = 10.0


async def wait_at_most(awaitable: Awaitable[object], seconds: float) -> bool:
    """Await ``awaitable`` for at most ``seconds``; whether it finished in time (running out is no error).

    For the loops that wait for a wake-up or a timeout. ``asyncio.wait_for``
    on Python 3.11 loses a cancellation that arrives as the awaited thing
    finishes (cpython#86296), and a task cancelled at that moment runs on;
    ``asyncio.timeout`` does not.
    """
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    run: TaskFactory
    max_backoff: float = 30.0


class Supervisor:
    """Runs each task forever, restarting it with backoff after a crash."""

    def __init__(self, stop_timeout: float = STOP_TIMEOUT) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop_timeout = stop_timeout

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
        """Cancel every task and wait for them, but not past the stop timeout: a task stuck in its
        cleanup (a client waiting on a broker that went away) must not hold the process."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        timeout = self._stop_timeout
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            stack = "".join(f"\n  {frame.f_code.co_filename}:{frame.f_lineno}" for frame in task.get_stack(limit=5))
            logger.warning(
                "background task %s did not stop within %.0f s; leaving it:%s", task.get_name(), timeout, stack
            )
