"""Fetching the provider's feed: timeouts, retries with backoff and jitter, a circuit breaker, a size limit.

    ProviderError                 the feed could not be fetched
    ├── ProviderUnavailable       connection error, timeout, 5xx, 429, body cut short (retried)
    ├── ProviderRejected          any other non-2xx answer (not retried)
    ├── FeedTooLarge              the body is larger than the limit (not retried)
    └── CircuitOpen               too many recent failures: not calling the provider now

The body is streamed into a spooled temporary file (in memory up to
``SPOOL_MEMORY_BYTES``, then on disk) and the download stops as soon as it
passes the limit, so neither a huge nor an endless answer can exhaust memory.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Literal

import httpx

from eventeye import __version__
from eventeye.plans.metrics import CIRCUIT_OPEN

SPOOL_MEMORY_BYTES = 1024 * 1024
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class ProviderError(Exception):
    """The provider's feed could not be fetched."""

    retryable = False


class ProviderUnavailable(ProviderError):
    retryable = True


class ProviderRejected(ProviderError):
    pass


class FeedTooLarge(ProviderError):
    pass


class CircuitOpen(ProviderError):
    pass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` more attempts after the first, waiting a random time up to ``base * 2**n`` (capped)."""

    retries: int = 3
    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        """Full jitter: spreads the retries of many clients over the whole window."""
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``reset_after`` seconds lets one trial through."""

    def __init__(self, *, threshold: int, reset_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_after else "open"

    def check(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go through now."""
        if self.state == "open":
            assert self._opened_at is not None
            wait = self.reset_after - (self._clock() - self._opened_at)
            raise CircuitOpen(f"provider circuit open after {self._failures} failures; next trial in {wait:.0f}s")

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        CIRCUIT_OPEN.set(0)

    def record_failure(self) -> None:
        self._failures += 1
        if self.state == "half_open" or self._failures >= self.threshold:
            self._opened_at = self._clock()
            CIRCUIT_OPEN.set(1)


@dataclass(frozen=True, slots=True)
class FetchedFeed:
    """A downloaded feed body, readable from the start."""

    body: IO[bytes]
    size: int


class ProviderClient:
    """Downloads the feed at ``url`` with the policies above; one instance per process."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        deadline: float,
        max_bytes: int,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
    ) -> None:
        self.url = url
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.retry = retry
        self.breaker = breaker

    @asynccontextmanager
    async def fetch(self) -> AsyncIterator[FetchedFeed]:
        """Download the feed, retrying what is worth retrying; the body is deleted on exit."""
        headers = {"Accept": "application/xml, text/xml", "User-Agent": f"eventeye/{__version__}"}
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers, follow_redirects=True) as http:
            for attempt in range(self.retry.retries + 1):
                self.breaker.check()
                with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as body:
                    try:
                        size = await self._download(http, body)
                    except ProviderError as exc:
                        if exc.retryable:
                            self.breaker.record_failure()
                        if not exc.retryable or attempt == self.retry.retries:
                            raise
                    else:
                        self.breaker.record_success()
                        body.seek(0)
                        yield FetchedFeed(body=body, size=size)
                        return
                await asyncio.sleep(self.retry.delay(attempt))

    async def _download(self, http: httpx.AsyncClient, body: IO[bytes]) -> int:
        try:
            async with asyncio.timeout(self.deadline):
                return await self._stream(http, body)
        except TimeoutError as exc:
            raise ProviderUnavailable(f"the feed did not arrive within {self.deadline:.0f}s") from exc
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _stream(self, http: httpx.AsyncClient, body: IO[bytes]) -> int:
        async with http.stream("GET", self.url) as response:
            self._check_status(response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FeedTooLarge(f"the feed declares {declared} bytes, more than the limit of {self.max_bytes}")
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FeedTooLarge(f"the feed is larger than the limit of {self.max_bytes} bytes")
                body.write(chunk)
            return size

    @staticmethod
    def _check_status(response: httpx.Response) -> None:
        if response.is_success:
            return
        message = f"the provider answered {response.status_code}"
        if response.status_code in RETRYABLE_STATUSES:
            raise ProviderUnavailable(message)
        raise ProviderRejected(message)
