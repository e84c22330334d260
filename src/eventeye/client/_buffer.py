"""The bounded buffer and its bookkeeping, shared by the sync and async clients (which lock around it)."""

from __future__ import annotations

import uuid
from collections import deque

from eventeye.client._config import ClientConfig
from eventeye.client._delivery import Report
from eventeye.client._events import Queued
from eventeye.client._models import ClientStats, Counters, DeliveryFailure


class Buffer:
    """FIFO of events waiting to be sent, the batch being delivered, and the counters.

    Every event gets a sequence number; ``drained_to(n)`` is true once every
    event numbered below ``n`` is settled (sent, refused, given up or dropped),
    which is what ``flush()`` waits for.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.counters = Counters()
        self.closing = False
        self._items: deque[Queued] = deque()
        self._next_seq = 0
        self._flush_to = 0
        self._in_flight: int | None = None

    def __len__(self) -> int:
        return len(self._items)

    def has_room(self) -> bool:
        return len(self._items) < self.config.max_buffer

    def push(self, event_id: uuid.UUID, body: bytes, now: float) -> DeliveryFailure | None:
        """Buffer an event; under "drop_oldest" a full buffer first drops (and returns) its oldest."""
        dropped = None
        if not self.has_room():
            oldest = self._items.popleft()
            self.counters.dropped += 1
            dropped = DeliveryFailure("dropped", "the buffer was full", [oldest.event()])
        self._items.append(Queued(self._next_seq, event_id, body, now))
        self._next_seq += 1
        return dropped

    def wants_sender(self) -> bool:
        """Whether the sender should be woken now: it sleeps while the buffer is empty or filling."""
        return len(self._items) == 1 or len(self._items) >= self.config.batch_size

    def request_flush(self) -> int:
        """Send everything buffered now, without waiting for batches to fill; returns what to wait for."""
        self._flush_to = self._next_seq
        return self._next_seq

    def wait_time(self, now: float) -> float | None:
        """Seconds until the next batch is due: 0 now, ``None`` when there is nothing to send."""
        if not self._items:
            return None
        head = self._items[0]
        if len(self._items) >= self.config.batch_size or self.closing or head.seq < self._flush_to:
            return 0.0
        return max(0.0, head.at + self.config.flush_interval - now)

    def take(self) -> list[Queued]:
        """The next batch, marked in flight."""
        count = min(len(self._items), self.config.batch_size)
        batch = [self._items.popleft() for _ in range(count)]
        if batch:
            self._in_flight = batch[0].seq
        return batch

    def settle(self, report: Report) -> None:
        self._in_flight = None
        self.counters.sent += report.sent
        for failure in report.failures:
            self.counters.add_failure(failure)

    def abandon(self, reason: str) -> DeliveryFailure | None:
        """Give up on every buffered event (closing, out of time)."""
        if not self._items:
            return None
        failure = DeliveryFailure("failed", reason, [event.event() for event in self._items])
        self.counters.failed += len(self._items)
        self._items.clear()
        return failure

    def drained_to(self, target: int) -> bool:
        return self._low_watermark() >= target

    def _first_seq(self) -> int:
        return self._items[0].seq if self._items else self._next_seq

    def _low_watermark(self) -> int:
        return self._in_flight if self._in_flight is not None else self._first_seq()

    def stats(self) -> ClientStats:
        c = self.counters
        return ClientStats(
            queued=len(self._items),
            sent=c.sent,
            rejected=c.rejected,
            failed=c.failed,
            dropped=c.dropped,
            requests=c.requests,
            retries=c.retries,
        )
