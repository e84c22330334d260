"""Serving `/search` from memory without ever serving data older than the last completed sync.

A completed sync that changed the catalogue bumps a data version stored in
the database, so every API process sees it. ``VersionGate`` reads that
version with a read that *starts after the caller arrived* (so nothing
committed before the request can be missed), yet concurrent callers share
one read: under load, one cheap query serves every request that arrived
while the previous one was in flight. ``ResponseCache`` keeps rendered
responses per (query, version), bounded in bytes, least recently used out;
each is kept under the version read with its data, so one rendered from
data older than the version asked for is answered but not kept.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable


class VersionGate:
    """Reads a value fresh for each caller, sharing reads between concurrent callers."""

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._waiters: list[asyncio.Future[int]] = []
        self._reader: asyncio.Task[None] | None = None

    async def current(self) -> int:
        """The value as of a read started after this call."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_for_waiters())
        return await future

    async def _read_for_waiters(self) -> None:
        while self._waiters:
            # Callers arriving from here on wait for the next read.
            waiters, self._waiters = self._waiters, []
            try:
                value = await self._read()
            except Exception as exc:
                for future in waiters:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for future in waiters:
                if not future.done():
                    future.set_result(value)


class ResponseCache:
    """Rendered responses by key for one data version, bounded to ``max_bytes``; concurrent misses share a load."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._version: int | None = None
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._loading: dict[tuple[Hashable, int], asyncio.Future[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, version: int) -> bytes | None:
        """The response for ``key`` rendered at ``version``, if kept."""
        if version != self._version:
            self._entries.clear()
            self.size = 0
            self._version = version
            return None
        body = self._entries.get(key)
        if body is not None:
            self._entries.move_to_end(key)
        return body

    async def load(self, key: Hashable, version: int, render: Callable[[], Awaitable[tuple[bytes, int]]]) -> bytes:
        """Render the response once for all concurrent callers of ``version``; keep it if it was read at the
        version current here (``render`` answers the body and the version its data was read at)."""
        while (pending := self._loading.get((key, version))) is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled, not the load it waited for
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._loading[(key, version)] = future
        try:
            body, rendered_at = await render()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark it retrieved: there may be no other caller
            raise
        finally:
            del self._loading[(key, version)]
        future.set_result(body)
        self._put(key, rendered_at, body)
        return body

    def _put(self, key: Hashable, version: int, body: bytes) -> None:
        if version != self._version or len(body) > self.max_bytes:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.size -= len(previous)
        self._entries[key] = body
        self.size += len(body)
        while self.size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted)
