"""The supervisor: restarts a crashed task, and stops promptly even when a task will not."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import pytest

from eventeye.core.tasks import Supervisor, TaskSpec, wait_at_most


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


async def test_wait_at_most_says_whether_the_wait_ended_in_time() -> None:
    event = asyncio.Event()
    started = time.monotonic()
    assert await wait_at_most(event.wait(), 0.05) is False
    assert time.monotonic() - started >= 0.05
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_at_most(event.wait(), 10) is True


async def cancelled_as_the_wait_ends(wait: Callable[[asyncio.Event], Awaitable[object]]) -> bool:
    """Whether a task cancelled in the same tick as the event it waits for is set really ends cancelled."""
    event = asyncio.Event()
    carried_on = asyncio.Event()

    async def loop_body() -> None:
        await wait(event)
        carried_on.set()  # a task that lost its cancellation gets here
        await asyncio.sleep(3600)

    task = asyncio.create_task(loop_body())
    await asyncio.sleep(0)  # the task is waiting
    event.set()
    task.cancel()
    await asyncio.wait([task], timeout=1)
    cancelled = task.cancelled()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return cancelled and not carried_on.is_set()


async def test_a_cancellation_that_comes_as_the_wait_ends_is_not_lost() -> None:
    assert await cancelled_as_the_wait_ends(lambda event: wait_at_most(event.wait(), 10))


async def test_the_race_is_real_for_asyncio_wait_for_on_this_python() -> None:
    """What ``wait_at_most`` avoids: Python 3.11's ``wait_for`` lets the task run on (fixed in 3.12)."""
    if sys.version_info >= (3, 12):
        pytest.skip("asyncio.wait_for keeps cancellations from Python 3.12 on")
    assert not await cancelled_as_the_wait_ends(lambda event: asyncio.wait_for(event.wait(), 10))
