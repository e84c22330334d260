"""``eventeye send``: send NDJSON events from a file or stdin through the client."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import orjson
import typer

from eventeye.client._config import API_KEY_ENV, DEFAULT_URL, MAX_BATCH, URL_ENV
from eventeye.client._exceptions import InvalidEvent
from eventeye.client._models import ClientStats, DeliveryFailure
from eventeye.client._sync import EventEyeClient

FileArg = Annotated[
    Path | None, typer.Argument(help="NDJSON file, one event per line; '-' or nothing reads stdin.", show_default=False)
]
UrlOpt = Annotated[str, typer.Option("--url", envvar=URL_ENV, help="eventeye's base URL.")]
KeyOpt = Annotated[
    str | None, typer.Option("--key", envvar=API_KEY_ENV, help="An API key with the ingest scope.", show_default=False)
]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Events per request.")]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to finish sending after the input ends.")
]


def _lines(file: Path | None) -> Iterator[str]:
    if file is None or str(file) == "-":
        yield from sys.stdin
        return
    with file.open(encoding="utf-8") as handle:
        yield from handle


def _send_lines(client: EventEyeClient, lines: Iterable[str], err: TextIO) -> int:
    """Send every line; print and count the ones that are not events."""
    invalid = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event: Any = orjson.loads(line)
            if not isinstance(event, dict):
                raise InvalidEvent("an event must be a JSON object")
            client.send(event)
        except (orjson.JSONDecodeError, InvalidEvent) as exc:
            invalid += 1
            print(f"line {number}: {exc}", file=err)
    return invalid


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _summary(stats: ClientStats, invalid: int) -> str:
    return (
        f"sent {stats.sent} events in {_count(stats.requests, 'request')} "
        f"({_count(stats.retries, 'retry', 'retries')}); "
        f"rejected {stats.rejected}, failed {stats.failed}, invalid lines {invalid}"
    )


def send(
    file: FileArg = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    batch_size: BatchOpt = 500,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Send events (NDJSON) to eventeye; events without an `id` get one. Exits 1 unless all were stored."""
    if not key:
        print(f"error: an API key is required: --key or {API_KEY_ENV}", file=sys.stderr)
        raise typer.Exit(2)

    def refused(failure: DeliveryFailure) -> None:
        print(f"{len(failure.events)} event(s) {failure.kind}: {failure.reason}", file=sys.stderr)

    # Failures are printed by ``refused``; the client's own warnings would repeat them.
    logging.getLogger("eventeye.client").addHandler(logging.NullHandler())
    client = EventEyeClient(url, key, batch_size=batch_size, block_timeout=None, on_error=refused)
    try:
        invalid = _send_lines(client, _lines(file), sys.stderr)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    finally:
        client.close(timeout)
    stats = client.stats
    print(_summary(stats, invalid))
    if invalid or stats.rejected or stats.failed or stats.dropped:
        raise typer.Exit(1)
