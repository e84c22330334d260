"""``Pacer``: background work rests in proportion to its work while other processes keep the machine busy."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from eventeye.core.pacing import WINDOW, Pacer, machine_busy_seconds


class Clock:
    """CPU seconds of the machine and of this process, advanced by the test."""

    def __init__(self) -> None:
        self.machine = 100.0
        self.own = 10.0

    def spend(self, *, own: float, others: float) -> None:
        self.own += own
        self.machine += own + others


def paced(share: float, clock: Clock) -> Pacer:
    return Pacer(share, machine=lambda: clock.machine, own=lambda: clock.own)


def settle(pacer: Pacer, clock: Clock, *, others_per_second: float) -> None:
    """One measured window in which other processes used ``others_per_second`` cores."""
    pacer.delay(0.001)  # opens the window
    time.sleep(WINDOW)
    clock.spend(own=0.05, others=others_per_second * WINDOW)


def test_on_a_quiet_machine_work_never_rests() -> None:
    clock = Clock()
    pacer = paced(0.3, clock)
    settle(pacer, clock, others_per_second=0.1)
    assert pacer.delay(0.01) == 0
    assert pacer.slept == 0


def test_while_others_are_busy_work_rests_to_its_share() -> None:
    clock = Clock()
    pacer = paced(0.25, clock)
    settle(pacer, clock, others_per_second=1.5)
    assert pacer.delay(0.01) == pytest.approx(0.03)  # 10 ms of work in 40 ms: a quarter of a core
    assert pacer.slept == pytest.approx(0.03)


def test_its_own_work_does_not_count_as_the_machine_being_busy() -> None:
    clock = Clock()
    pacer = paced(0.3, clock)
    pacer.delay(0.001)
    time.sleep(WINDOW)
    clock.spend(own=2 * WINDOW, others=0)  # this process alone kept both cores busy
    assert pacer.delay(0.01) == 0


def test_a_machine_that_cannot_tell_its_load_never_rests() -> None:
    pacer = Pacer(0.3, machine=lambda: None)
    time.sleep(WINDOW)
    assert pacer.delay(0.01) == 0


def test_a_full_share_never_measures_nor_rests() -> None:
    pacer = Pacer(1.0, machine=lambda: pytest.fail("measured"))
    pacer.pause()
    assert pacer.delay(1.0) == 0


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_the_share_is_of_one_core(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        Pacer(share)


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two processes spinning: the machine's cores are busy with others' work."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.3)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@pytest.mark.skipif(machine_busy_seconds() is None, reason="the machine's load is read from Linux's /proc/stat")
@pytest.mark.usefixtures("busy_machine")
def test_reads_the_machine_busy_from_the_kernel() -> None:
    pacer = Pacer(0.5)
    deadline = time.monotonic() + 5
    while not pacer.delay(0.01) and time.monotonic() < deadline:
        time.sleep(WINDOW / 2)
    assert pacer.slept >= 0.01
