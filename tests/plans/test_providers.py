"""Fetching the feed from a real local server that misbehaves on demand."""

from __future__ import annotations

import pytest

from eventeye.plans.providers import (
    CircuitBreaker,
    CircuitOpen,
    FeedTooLarge,
    ProviderClient,
    ProviderRejected,
    ProviderUnavailable,
    RetryPolicy,
)
from tests.plans.feeds import SAMPLE
from tests.plans.provider import FakeProvider, Reply


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client(
    provider: FakeProvider, *, retries: int = 2, max_bytes: int = 1024 * 1024, breaker: CircuitBreaker | None = None
) -> ProviderClient:
    return ProviderClient(
        provider.url,
        timeout=0.3,
        deadline=3,
        max_bytes=max_bytes,
        retry=RetryPolicy(retries=retries, base=0.01, cap=0.05),
        breaker=breaker or CircuitBreaker(threshold=100, reset_after=60),
    )


async def fetch(http: ProviderClient) -> bytes:
    async with http.fetch() as feed:
        data = feed.body.read()
        assert feed.size == len(data)
        return data


class TestFetch:
    async def test_downloads_the_body(self, provider: FakeProvider) -> None:
        provider.serve(Reply(SAMPLE))
        assert await fetch(client(provider)) == SAMPLE

    async def test_a_500_is_retried_until_it_succeeds(self, provider: FakeProvider) -> None:
        provider.queue(Reply(status=500), Reply(status=503))
        provider.serve(Reply(SAMPLE))
        assert await fetch(client(provider)) == SAMPLE
        assert provider.requests == 3

    async def test_gives_up_after_the_retries(self, provider: FakeProvider) -> None:
        provider.serve(Reply(status=500))
        with pytest.raises(ProviderUnavailable, match="500"):
            await fetch(client(provider, retries=2))
        assert provider.requests == 3

    async def test_a_timeout_is_retried(self, provider: FakeProvider) -> None:
        provider.queue(Reply(SAMPLE, delay=1.0))
        provider.serve(Reply(SAMPLE))
        assert await fetch(client(provider)) == SAMPLE
        assert provider.requests == 2

    async def test_a_slow_provider_times_out(self, provider: FakeProvider) -> None:
        provider.serve(Reply(SAMPLE, delay=1.0))
        with pytest.raises(ProviderUnavailable, match="timed out"):
            await fetch(client(provider, retries=0))

    async def test_a_body_cut_short_is_retried(self, provider: FakeProvider) -> None:
        provider.queue(Reply(SAMPLE[:500], declared_length=len(SAMPLE)))
        provider.serve(Reply(SAMPLE))
        assert await fetch(client(provider)) == SAMPLE
        assert provider.requests == 2

    async def test_a_404_is_not_retried(self, provider: FakeProvider) -> None:
        provider.serve(Reply(status=404))
        with pytest.raises(ProviderRejected, match="404"):
            await fetch(client(provider))
        assert provider.requests == 1

    async def test_a_declared_huge_body_is_refused_before_reading_it(self, provider: FakeProvider) -> None:
        provider.serve(Reply(SAMPLE, declared_length=10 * 1024 * 1024))
        with pytest.raises(FeedTooLarge, match="declares"):
            await fetch(client(provider))
        assert provider.requests == 1

    async def test_a_streamed_huge_body_is_cut_off_at_the_limit(self, provider: FakeProvider) -> None:
        provider.serve(Reply(SAMPLE, filler_bytes=64 * 1024 * 1024))
        with pytest.raises(FeedTooLarge, match="larger than"):
            await fetch(client(provider, max_bytes=256 * 1024))
        assert provider.requests == 1
        assert provider.bytes_sent < 16 * 1024 * 1024  # stopped reading long before the end

    async def test_an_endless_trickle_hits_the_deadline(self, provider: FakeProvider) -> None:
        provider.serve(Reply(SAMPLE, filler_bytes=1024 * 1024, chunk_delay=0.2))
        http = client(provider, retries=0)
        http.deadline = 0.5
        with pytest.raises(ProviderUnavailable, match="within"):
            await fetch(http)


class TestCircuitBreaker:
    async def test_opens_after_consecutive_failures_and_stops_calling(self, provider: FakeProvider) -> None:
        provider.serve(Reply(status=500))
        breaker = CircuitBreaker(threshold=3, reset_after=60, clock=Clock())
        http = client(provider, retries=5, breaker=breaker)
        with pytest.raises(CircuitOpen):
            await fetch(http)
        assert provider.requests == 3  # not 6: the breaker cut the retries short
        with pytest.raises(CircuitOpen):
            await fetch(http)
        assert provider.requests == 3
        assert breaker.state == "open"

    async def test_lets_one_trial_through_after_the_reset_time_and_closes_on_success(
        self, provider: FakeProvider
    ) -> None:
        clock = Clock()
        breaker = CircuitBreaker(threshold=2, reset_after=30, clock=clock)
        http = client(provider, retries=0, breaker=breaker)
        provider.serve(Reply(status=502))
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await fetch(http)
        clock.now = 29
        with pytest.raises(CircuitOpen):
            await fetch(http)
        clock.now = 31
        provider.serve(Reply(SAMPLE))
        assert await fetch(http) == SAMPLE
        assert breaker.state == "closed"
        assert provider.requests == 3

    async def test_a_failed_trial_opens_it_again(self, provider: FakeProvider) -> None:
        clock = Clock()
        breaker = CircuitBreaker(threshold=2, reset_after=30, clock=clock)
        http = client(provider, retries=0, breaker=breaker)
        provider.serve(Reply(status=500))
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await fetch(http)
        clock.now = 31
        with pytest.raises(ProviderUnavailable):
            await fetch(http)  # the one trial
        with pytest.raises(CircuitOpen):
            await fetch(http)
        assert provider.requests == 3

    async def test_rejections_are_not_outages(self, provider: FakeProvider) -> None:
        provider.serve(Reply(status=404))
        http = client(provider, retries=0, breaker=CircuitBreaker(threshold=1, reset_after=30, clock=Clock()))
        for _ in range(2):
            with pytest.raises(ProviderRejected):
                await fetch(http)
        assert provider.requests == 2


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    policy = RetryPolicy(retries=5, base=0.5, cap=4.0)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0]):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.7  # spread over the whole window, not a fixed wait
