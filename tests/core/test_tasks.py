"""The supervisor: restarts a crashed task, and stops promptly even when a task will not."""

from __future__ import annotations

import asyncio
import time

import pytest

from eventeye.core.tasks import Supervisor, TaskSpec


async def test_a_crashed_task_is_restarted() -> None:
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 2:
            raise RuntimeError("first run fails")
        await asyncio.sleep(3600)

    supervisor = Supervisor()
    supervisor.start(TaskSpec("flaky", flaky))
    for _ in range(200):
        if len(runs) == 2:
            break
        await asyncio.sleep(0.01)
    await supervisor.stop()
    assert len(runs) == 2


async def test_stop_does_not_wait_past_its_timeout_for_a_task_stuck_in_cleanup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.shield(release.wait())  # a cleanup that outlives any cancellation

    supervisor = Supervisor(stop_timeout=0.2)
    supervisor.start(TaskSpec("stubborn", stubborn))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await supervisor.stop()
    assert time.monotonic() - started < 2
    assert "stubborn did not stop" in caplog.text
    assert supervisor.names == []
    release.set()
    await asyncio.sleep(0.01)
