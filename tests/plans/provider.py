"""A real local HTTP server playing the provider, told in advance how to (mis)behave.

Each request takes the next queued ``Reply`` (or the default one): it can be
slow, fail with any status, cut its body short, send garbage, or stream far
more than any limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Reply:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/xml"
    delay: float = 0.0
    """Seconds before the status line (longer than the client's timeout = a timeout)."""
    declared_length: int | None = None
    """The Content-Length to announce when it is not ``len(body)``: larger and the body is cut short."""
    filler_bytes: int = 0
    """Bytes of XML comment streamed after ``body``, with no Content-Length (a huge answer)."""
    chunk_delay: float = 0.0
    hold: threading.Event | None = None
    """When given, the reply waits (at most ``delay`` seconds) until this event is set."""


@dataclass
class FakeProvider:
    """The server; ``url`` is where the feed lives. Thread-safe counters of what it was asked."""

    default: Reply = field(default_factory=lambda: Reply(status=404))
    replies: deque[Reply] = field(default_factory=deque)
    requests: int = 0
    bytes_sent: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def serve(self, reply: Reply) -> None:
        """Answer every request with ``reply`` from now on (queued replies first)."""
        with self.lock:
            self.default = reply

    def next_reply(self) -> Reply:
        with self.lock:
            self.requests += 1
            return self.replies.popleft() if self.replies else self.default

    def count_sent(self, size: int) -> None:
        with self.lock:
            self.bytes_sent += size


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        reply = self.server.provider.next_reply()
        if reply.hold is not None:
            reply.hold.wait(reply.delay)
        else:
            time.sleep(reply.delay)
        try:
            self._answer(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should when told to

    def _answer(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if not reply.filler_bytes:
            self.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
        self.end_headers()
        self._send(reply.body, reply.chunk_delay)
        if reply.filler_bytes:
            self._send(b"<!--" + b"x" * (reply.filler_bytes - 7) + b"-->", reply.chunk_delay)
        self.close_connection = True

    def _send(self, data: bytes, delay: float) -> None:
        for start in range(0, len(data), CHUNK):
            self.wfile.write(data[start : start + CHUNK])
            self.wfile.flush()
            self.server.provider.count_sent(min(CHUNK, len(data) - start))
            if delay:
                time.sleep(delay)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a reply told to stall must not stall the test's teardown
    provider: FakeProvider


@contextmanager
def running_provider(path: str = "/feed.xml") -> Iterator[FakeProvider]:
    """Start the provider on a free port of 127.0.0.1; stop it afterwards."""
    server = _Server(("127.0.0.1", 0), _Handler)
    provider = FakeProvider()
    server.provider = provider
    provider.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
