"""A client for sending events to eventeye from Python, sync or async.

    from eventeye.client import EventEyeClient

    with EventEyeClient("http://127.0.0.1:8000", api_key="ee_...") as client:
        client.track("e2085be5-...", "page interaction", "pageview", {"host": "example.com", "path": "/"})

Events are buffered in memory and sent in batches in the background; retries
(network errors, 5xx, 429) reuse each event's client-side ``id``, which eventeye
stores at most once. See ``ClientConfig`` for batching, retries and the
overflow policy.
"""

from eventeye.client._async import AsyncEventEyeClient
from eventeye.client._config import ClientConfig, ClientOptions, Overflow
from eventeye.client._exceptions import BufferFull, ClientClosed, ClientError, InvalidEvent
from eventeye.client._models import ClientStats, DeliveryFailure
from eventeye.client._sync import EventEyeClient

__all__ = [
    "AsyncEventEyeClient",
    "BufferFull",
    "ClientClosed",
    "ClientConfig",
    "ClientError",
    "ClientOptions",
    "ClientStats",
    "DeliveryFailure",
    "EventEyeClient",
    "InvalidEvent",
    "Overflow",
]
