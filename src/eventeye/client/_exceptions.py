"""Errors raised by the client.

    ClientError
    ├── InvalidEvent   an event the client refuses before buffering it (also a ValueError)
    ├── BufferFull     the buffer stayed full for ``block_timeout`` (overflow policy "block")
    └── ClientClosed   ``track``/``send`` after ``close()``

Events that leave the buffer but are not stored are never raised: they are
reported to ``on_error`` as a ``DeliveryFailure`` and counted in ``stats``.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the client raises."""


class InvalidEvent(ClientError, ValueError):
    """The event is not one eventeye could accept (missing field, wrong type, not JSON-serialisable)."""


class BufferFull(ClientError):
    """The buffer was still full after ``block_timeout`` seconds; the event was not buffered."""


class ClientClosed(ClientError):
    """The client was closed; it accepts no more events."""
