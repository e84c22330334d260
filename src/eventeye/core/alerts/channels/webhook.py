"""The webhook channel: POST the alert as JSON, signed with the webhook's secret.

Headers: ``X-EventEye-Timestamp`` (Unix seconds), ``X-EventEye-Signature``
(``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under the
webhook's secret), ``X-EventEye-Delivery`` (the same on every retry of a
delivery: receivers drop repeats by it) and ``X-EventEye-Alert``. A receiver
checks the signature and that the timestamp is recent::

    expected = sign(secret, request.headers["X-EventEye-Timestamp"], body)
    hmac.compare_digest(expected, request.headers["X-EventEye-Signature"])

Any 2xx answer is a success; anything else, or no answer in time, is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Sequence

import httpx

from eventeye import __version__
from eventeye.core.alerts.channels.base import Job, Outcome
from eventeye.core.responses import dumps

MAX_CONCURRENT = 20


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-EventEye-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookChannel:
    """POSTs alerts to webhooks, at most ``MAX_CONCURRENT`` at a time."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def deliver(self, jobs: Sequence[Job]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._post(job) for job in jobs)))

    async def _post(self, job: Job) -> Outcome:
        webhook = job.webhook
        if webhook is None:
            return Outcome(ok=False, error=f"no webhook named {job.delivery.target!r}", permanent=True)
        body = dumps(job.alert.as_json())
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"eventeye/{__version__}",
            "X-EventEye-Timestamp": timestamp,
            "X-EventEye-Signature": sign(webhook.secret, timestamp, body),
            "X-EventEye-Delivery": str(job.delivery.id),
            "X-EventEye-Alert": str(job.alert.id),
        }
        async with self._slots:
            try:
                response = await self._http().post(webhook.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return Outcome(ok=True, status=response.status_code)
        return Outcome(ok=False, status=response.status_code, error=f"HTTP {response.status_code}")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
