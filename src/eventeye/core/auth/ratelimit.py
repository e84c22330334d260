"""An in-process sliding-window counter of failures, used to slow down password guessing."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class FailureLimiter:
    """Counts failures per key within ``window`` seconds; blocked at ``limit``."""

    def __init__(self, *, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)

    def _prune(self, key: str, now: float) -> deque[float]:
        entries = self._failures[key]
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        return entries

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 when it is not blocked."""
        now = time.monotonic()
        entries = self._prune(key, now)
        if len(entries) < self.limit:
            if not entries:
                self._failures.pop(key, None)
            return 0
        return max(1, int(entries[0] + self.window - now) + 1)

    def record_failure(self, key: str) -> None:
        if len(self._failures) >= self.max_keys:
            self._failures.clear()
        self._prune(key, time.monotonic()).append(time.monotonic())

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
