"""What the sync and async clients share besides the buffer: headers, events, retries, reporting."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eventeye import __version__
from eventeye.client._config import ClientConfig
from eventeye.client._models import DeliveryFailure
from eventeye.client._retry import RetryPolicy

logger = logging.getLogger("eventeye.client")


def headers(config: ClientConfig) -> dict[str, str]:
    return {
        "X-API-Key": config.api_key,
        "Content-Type": "application/json",
        "User-Agent": f"eventeye-client/{__version__}",
    }


def make_policy(config: ClientConfig) -> RetryPolicy:
    return RetryPolicy(max_retries=config.max_retries, initial=config.backoff_initial, maximum=config.backoff_max)


def make_event(
    session_id: str, category: str, name: str, data: Mapping[str, Any] | None, timestamp: datetime | str | None
) -> dict[str, Any]:
    event: dict[str, Any] = {"session_id": session_id, "category": category, "name": name, "data": data or {}}
    if timestamp is not None:
        event["timestamp"] = timestamp
    return event


def report_failure(config: ClientConfig, failure: DeliveryFailure) -> None:
    """Log a failure and hand it to ``on_error``; a failing callback is logged, never raised."""
    logger.warning("%d event(s) %s: %s", len(failure.events), failure.kind, failure.reason)
    if config.on_error is None:
        return
    try:
        config.on_error(failure)
    except Exception:
        logger.exception("the on_error callback failed")
