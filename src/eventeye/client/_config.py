"""Client settings: where eventeye is, how to batch, retry and bound the buffer."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypedDict

from eventeye.client._models import DeliveryFailure

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "EVENTEYE_URL"
API_KEY_ENV = "EVENTEYE_API_KEY"
MAX_BATCH = 1000  # eventeye accepts at most this many events per request by default

Overflow = Literal["block", "drop_oldest"]
ErrorCallback = Callable[[DeliveryFailure], None]


class ClientOptions(TypedDict, total=False):
    """Keyword options of ``EventEyeClient`` and ``AsyncEventEyeClient`` (see ``ClientConfig``)."""

    batch_size: int
    flush_interval: float
    max_buffer: int
    overflow: Overflow
    block_timeout: float | None
    max_retries: int
    backoff_initial: float
    backoff_max: float
    timeout: float
    on_error: ErrorCallback | None


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Every setting of a client.

    - ``batch_size``: events per request (1..1000); a full batch is sent at once.
    - ``flush_interval``: seconds an event may wait in the buffer for its batch to fill.
    - ``max_buffer``: events held in memory, waiting or being delivered excluded.
    - ``overflow``: when the buffer is full, ``"block"`` waits up to ``block_timeout``
      seconds for room (``None``: as long as it takes) and then raises ``BufferFull``;
      ``"drop_oldest"`` discards the oldest buffered event, counts it in
      ``stats.dropped`` and reports it to ``on_error``.
    - ``max_retries``, ``backoff_initial``, ``backoff_max``: retries of one request on
      network errors, 5xx and 429, waiting ``backoff_initial * 2**n`` (capped at
      ``backoff_max``) with full jitter, or what ``Retry-After`` says.
    - ``timeout``: seconds for one HTTP request.
    - ``on_error``: called with every ``DeliveryFailure`` (from the background sender).
    """

    url: str
    api_key: str
    batch_size: int = 100
    flush_interval: float = 1.0
    max_buffer: int = 10_000
    overflow: Overflow = "block"
    block_timeout: float | None = 1.0
    max_retries: int = 10
    backoff_initial: float = 0.2
    backoff_max: float = 30.0
    timeout: float = 10.0
    on_error: ErrorCallback | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        if self.max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        if self.overflow not in ("block", "drop_oldest"):
            raise ValueError('overflow must be "block" or "drop_oldest"')
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        for name in ("flush_interval", "backoff_initial", "backoff_max", "timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.block_timeout is not None and self.block_timeout < 0:
            raise ValueError("block_timeout must not be negative")

    @classmethod
    def build(cls, url: str | None, api_key: str | None, options: ClientOptions) -> ClientConfig:
        """Fill ``url`` and ``api_key`` from ``EVENTEYE_URL`` / ``EVENTEYE_API_KEY`` when not given."""
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise ValueError(f"an API key is required: pass api_key or set {API_KEY_ENV}")
        base = url or os.environ.get(URL_ENV) or DEFAULT_URL
        return cls(url=base.rstrip("/"), api_key=key, **options)

    @property
    def events_url(self) -> str:
        return f"{self.url}/v1/events"
