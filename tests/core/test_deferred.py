"""Deferred writes: done in batches a moment later, never lost on a failed round or a clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye.core.deferred import DROPPED, Deferred
from eventeye.core.pipeline.envelope import Fact
from tests.core.rules.helpers import fact


class Recorder:
    """A write that records each round's facts, failing the first ``failures`` rounds."""

    def __init__(self, failures: int = 0) -> None:
        self.rounds: list[list[Fact]] = []
        self.failures = failures

    async def __call__(self, conn: AsyncConnection, facts: Sequence[Fact]) -> None:
        assert conn.in_transaction()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unreachable")
        self.rounds.append(list(facts))


def sources(rounds: list[list[Fact]]) -> list[list[str]]:
    return [[f.source for f in facts] for facts in rounds]


class TestDeferred:
    async def test_one_round_takes_every_fact_in_order(self, engine: AsyncEngine) -> None:
        recorder = Recorder()
        deferred = Deferred(engine, recorder, name="test", delay=10, max_pending=100)
        deferred.add([fact(0, source="a")])
        deferred.add([fact(1, source="b"), fact(2, source="c")])
        await deferred.flush()
        await deferred.flush()  # nothing left: no empty round
        assert sources(recorder.rounds) == [["a", "b", "c"]]
        assert deferred.pending == 0

    async def test_a_failed_round_keeps_its_facts_for_the_next(self, engine: AsyncEngine) -> None:
        recorder = Recorder(failures=1)
        deferred = Deferred(engine, recorder, name="test", delay=10, max_pending=100)
        deferred.add([fact(0, source="a")])
        with pytest.raises(ConnectionError):
            await deferred.flush()
        deferred.add([fact(1, source="b")])
        await deferred.flush()
        assert sources(recorder.rounds) == [["a", "b"]]

    async def test_past_the_bound_the_oldest_are_dropped_and_counted(self, engine: AsyncEngine) -> None:
        recorder = Recorder()
        deferred = Deferred(engine, recorder, name="test", delay=10, max_pending=3)
        before = DROPPED.labels("test")._value.get()
        deferred.add([fact(i, source=str(i)) for i in range(5)])
        assert DROPPED.labels("test")._value.get() - before == 2
        await deferred.flush()
        assert sources(recorder.rounds) == [["2", "3", "4"]]

    async def test_the_task_flushes_on_its_delay_and_when_stopped(self, engine: AsyncEngine) -> None:
        recorder = Recorder()
        deferred = Deferred(engine, recorder, name="test", delay=0.05, max_pending=1000)
        task = asyncio.create_task(deferred.run())
        deferred.add([fact(0, source="a")])
        for _ in range(100):
            if recorder.rounds:
                break
            await asyncio.sleep(0.01)
        assert sources(recorder.rounds) == [["a"]]
        slow = Deferred(engine, recorder, name="test", delay=3600, max_pending=1000)
        stopped = asyncio.create_task(slow.run())
        await asyncio.sleep(0.01)
        slow.add([fact(1, source="b")])
        for running in (task, stopped):
            running.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
        assert sources(recorder.rounds) == [["a"], ["b"]]

    async def test_many_waiting_facts_do_not_wait_for_the_delay(self, engine: AsyncEngine) -> None:
        recorder = Recorder()
        deferred = Deferred(engine, recorder, name="test", delay=3600, max_pending=100)
        task = asyncio.create_task(deferred.run())
        await asyncio.sleep(0.01)
        deferred.add([fact(i) for i in range(10)])  # a tenth of the bound
        for _ in range(100):
            if recorder.rounds:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert [len(r) for r in recorder.rounds] == [10]
