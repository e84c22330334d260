"""Background work that yields the cores to serving while the machine is busy.

A lower priority is not enough on a small machine: a background thread in
Linux's idle scheduling class still takes every moment the server leaves
between requests, and on two cores that cost `/search` a tenth to a third
of its rate during a sync (caches, memory bandwidth, the hypervisor's share).
A ``Pacer`` is called by a working thread between chunks of work: while
other processes keep the machine busy it sleeps long enough for the thread
to use at most ``share`` of one core; on a quiet machine it never sleeps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PROC_STAT = Path("/proc/stat")
WINDOW = 0.1
"""Seconds over which the machine's load is measured (/proc/stat counts in ticks of 10 ms)."""


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot, summed over cores; None where unknown."""
    try:
        fields = PROC_STAT.read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_seconds() -> float:
    """CPU seconds this process has used, all threads."""
    times = os.times()
    return times.user + times.system


class Pacer:
    """Limits the calling thread to ``share`` of a core while others use ``busy`` of the machine's cores."""

    def __init__(
        self,
        share: float,
        *,
        busy: float = 0.25,
        machine: Callable[[], float | None] = machine_busy_seconds,
        own: Callable[[], float] = process_seconds,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.busy = busy
        self._machine, self._own = machine, own
        self.cores = os.cpu_count() or 1
        self.slept = 0.0
        self._thread: float | None = None
        self._window: tuple[float, float, float] | None = None
        self._others_busy = False

    def pause(self) -> None:
        """Call between chunks of work, from the thread doing it."""
        if self.share >= 1:
            return
        delay = self.delay(self._worked())
        if delay:
            time.sleep(delay)
            self._thread = time.thread_time()  # the sleep is not work

    def delay(self, worked: float) -> float:
        """How long to rest after ``worked`` seconds of work (0 on a quiet machine); counted in ``slept``."""
        if self.share >= 1 or worked <= 0 or not self._machine_is_busy():
            return 0.0
        delay = worked * (1 / self.share - 1)
        self.slept += delay
        return delay

    def _worked(self) -> float:
        now = time.thread_time()
        previous, self._thread = self._thread, now
        return now - previous if previous is not None else 0.0

    def _machine_is_busy(self) -> bool:
        """Whether other processes used ``busy`` of the cores over the last window (kept until the next)."""
        wall = time.monotonic()
        if self._window is not None and wall - self._window[0] < WINDOW:
            return self._others_busy  # the counters are read once a window, not on every call
        machine = self._machine()
        if machine is None:
            return False
        own = self._own()
        if self._window is not None:
            started, machine_before, own_before = self._window
            others = (machine - machine_before) - (own - own_before)
            self._others_busy = others / (wall - started) >= self.busy * self.cores
        self._window = (wall, machine, own)
        return self._others_busy
