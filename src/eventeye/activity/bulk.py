"""Bulk loading: CSV / NDJSON files and Python iterables, in chunks, through COPY or multi-row inserts.

Each chunk is read and checked in a worker thread while the previous one is
being stored, sorted by time, stored with its period boundaries, its bad rows
recorded in ``errors``, and its facts handed to the store hooks (the rules) in
time order, all in one transaction, like a batch of the processor. Memory
stays bounded by the chunk size whatever the size of the input.
"""

from __future__ import annotations

import asyncio
import csv
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import periods
from eventeye.activity import service as activity_service
from eventeye.activity.periods import EPOCH
from eventeye.activity.schemas import CAMERA_MAX_LENGTH, DEFAULT_CAMERA, GROUP_OF_KIND, KIND_OF, Detection
from eventeye.activity.service import FIELDS, Problem, check
from eventeye.core.pipeline import repository as pipeline_repository
from eventeye.core.pipeline.envelope import Rejection, new_event_id
from eventeye.core.pipeline.processor import StoreHook
from eventeye.core.storage.engine import write_transaction

CHUNK_SIZE = 50_000
_US = timedelta(microseconds=1)
SHOWN_PROBLEMS = 10
Format = Literal["csv", "ndjson"]


Problems = list[tuple[int, Problem, str]]
"""Bad rows: (line, problem, raw text)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One checked chunk of the input: its flagged detections, its bad rows, and how far into the input it is."""

    batch: periods.Flagged
    problems: Problems
    position: int


@dataclass
class LoadReport:
    """What a load stored and refused; ``problems`` shows the first few bad rows."""

    stored: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, chunk: Chunk) -> None:
        self.stored += len(chunk.batch.rows)
        self.rejected += len(chunk.problems)
        for line, problem, _ in chunk.problems[: SHOWN_PROBLEMS - len(self.problems)]:
            self.problems.append(f"line {line}: {problem.field}: {problem.reason}")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line the CSV or JSON parser could not read."""

    reason: str
    text: str = ""


def _check_row(row: Sequence[Any] | Unreadable, latest: int) -> Detection | Problem:
    if isinstance(row, Unreadable):
        return Problem("malformed", "$", row.reason)
    if len(row) == 2:
        return check(row[0], row[1], None, latest)
    if len(row) == 3:
        return check(row[0], row[1], row[2] or None, latest)
    return Problem("malformed", "$", f"expected time,type[,camera_id]; got {len(row)} column(s)")


def _check_mapping(item: Any, latest: int) -> Detection | Problem:
    if isinstance(item, Unreadable):
        return Problem("malformed", "$", item.reason)
    if not isinstance(item, dict):
        return Problem("malformed", "$", "must be a JSON object")
    if not FIELDS.issuperset(item):
        return Problem("malformed", sorted(set(item) - FIELDS)[0], "is not a field of a detection")
    return check(item.get("time"), item.get("type"), item.get("camera_id"), latest)


Parse = Callable[[list[Any], int, int], tuple[list[Detection], Problems]]
"""Checks a chunk of raw rows: (rows, latest allowed time, line of the first) -> (detections, problems)."""


def checking(check_one: Callable[[Any, int], Detection | Problem]) -> Parse:
    """A chunk parser that checks each row with ``check_one``."""

    def parse(rows: list[Any], latest: int, line: int) -> tuple[list[Detection], Problems]:
        detections: list[Detection] = []
        problems: Problems = []
        for index, row in enumerate(rows):
            checked = check_one(row, latest)
            if isinstance(checked, Problem):
                problems.append((line + index, checked, _raw(row)))
            else:
                detections.append(checked)
        return detections, problems

    return parse


def parse_csv_rows(rows: list[list[str]], latest: int, line: int) -> tuple[list[Detection], Problems]:
    """``check`` inlined for valid CSV rows (most of them); any other row takes ``check`` itself."""
    detections: list[Detection] = []
    keep = detections.append
    problems: Problems = []
    kinds, groups, parse_iso, epoch, micro, utc = KIND_OF, GROUP_OF_KIND, datetime.fromisoformat, EPOCH, _US, UTC
    for index, row in enumerate(rows):
        try:
            if len(row) == 2:
                time_text, type_name = row
                camera_id = DEFAULT_CAMERA
            else:
                time_text, type_name, camera_id = row
                camera_id = camera_id or DEFAULT_CAMERA
            kind = kinds[type_name]
            moment = parse_iso(time_text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=utc)
            time_us = (moment - epoch) // micro
            if time_us > latest or len(camera_id) > CAMERA_MAX_LENGTH:
                raise ValueError
            keep((camera_id, time_us, kind, groups[kind]))
        except (KeyError, ValueError, TypeError, OverflowError):
            checked = _check_row(row, latest)
            if isinstance(checked, Problem):
                problems.append((line + index, checked, _raw(row)))
            else:
                keep(checked)
    return detections, problems


class Reader:
    """Reads, checks, sorts and flags an input chunk by chunk (from one worker thread at a time)."""

    def __init__(self, rows: Iterator[Any], parse: Parse, latest: int, *, first_line: int = 1) -> None:
        self.rows = rows
        self.parse = parse
        self.latest = latest
        self.line = first_line
        self.position: Callable[[], int] = lambda: self.line

    def next_chunk(self, size: int) -> Chunk | None:
        rows = self._take(size)
        if not rows:
            return None
        detections, problems = self.parse(rows, self.latest, self.line)
        self.line += len(rows)
        detections.sort(key=itemgetter(1))
        return Chunk(periods.flag(detections), problems, self.position())

    def _take(self, size: int) -> list[Any]:
        rows: list[Any] = []
        while True:
            try:
                rows.extend(islice(self.rows, size - len(rows)))  # what was read before an error stays
                return rows
            except csv.Error as exc:  # e.g. a field over the size limit: that line only
                rows.append(Unreadable(f"not valid CSV: {exc}"))


def _raw(row: Any) -> str:
    if isinstance(row, Unreadable):
        return row.text
    if isinstance(row, list | tuple):
        return ",".join(str(part) for part in row)
    return orjson.dumps(row, default=str).decode()


def _ndjson_rows(handle: IO[bytes]) -> Iterator[Any]:
    for line in handle:
        if line.strip():
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Unreadable(f"not valid JSON: {exc}", line.decode("utf-8", "replace").rstrip("\n"))


def file_reader(handle: IO[bytes], text: IO[str], format: Format, latest: int) -> Reader:
    """A reader of an open file (``text`` wraps ``handle``); CSV may start with a ``time,type`` header."""
    if format == "ndjson":
        reader = Reader(_ndjson_rows(handle), checking(_check_mapping), latest)
    else:
        rows = csv.reader(text)
        try:
            first: list[str] | Unreadable | None = next(rows, None)
        except csv.Error as exc:
            first = Unreadable(f"not valid CSV: {exc}")
        header = isinstance(first, list) and [cell.strip() for cell in first[:2]] == ["time", "type"]
        # chain, not a generator: it goes on reading after a line the parser refused
        rows_with_first = rows if header or first is None else chain([first], rows)
        reader = Reader(rows_with_first, parse_csv_rows, latest, first_line=2 if header else 1)
    reader.position = handle.tell
    return reader


def iterable_reader(events: Iterable[Any], latest: int) -> Reader:
    """A reader of Python events: mappings like the JSON body, or ``(time, type[, camera_id])`` sequences."""

    def check_event(event: Any, latest: int) -> Detection | Problem:
        return _check_mapping(event, latest) if isinstance(event, dict) else _check_row(event, latest)

    return Reader(iter(events), checking(check_event), latest)


def detect_format(path: Path) -> Format:
    """``ndjson`` for ``.ndjson`` / ``.jsonl`` files or a first character ``{``; ``csv`` otherwise."""
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        return "ndjson"
    with path.open("rb") as handle:
        return "ndjson" if handle.read(64).lstrip().startswith(b"{") else "csv"


Progress = Callable[[LoadReport, int], None]


async def load(
    engine: AsyncEngine,
    reader: Reader,
    *,
    hooks: Sequence[StoreHook] = (),
    source: str = "bulk",
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
) -> LoadReport:
    """Store everything ``reader`` yields, one transaction per chunk; returns what was stored and refused."""
    report = LoadReport()
    with _collector_paused():
        pending = asyncio.create_task(asyncio.to_thread(reader.next_chunk, chunk_size))
        while (chunk := await pending) is not None:
            pending = asyncio.create_task(asyncio.to_thread(reader.next_chunk, chunk_size))
            try:
                await _store_chunk(engine, chunk, hooks=hooks, source=source)
            except BaseException:
                await asyncio.gather(pending, return_exceptions=True)
                raise
            report.add(chunk)
            if progress is not None:
                progress(report, chunk.position)
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a load makes millions of short-lived tuples, and collecting
    them again and again costs as much as parsing them (reference counting still frees them)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _store_chunk(engine: AsyncEngine, chunk: Chunk, *, hooks: Sequence[StoreHook], source: str) -> None:
    now = datetime.now(UTC)
    rejections = [_rejection(line, problem, raw, source, now) for line, problem, raw in chunk.problems]
    async with write_transaction(engine) as conn:
        await activity_service.store(conn, chunk.batch, ids=None)
        await pipeline_repository.insert_errors(conn, rejections=rejections, at=now)
        if hooks:
            facts = [activity_service.fact(row, event_id=new_event_id(), source=source) for row in chunk.batch.rows]
            for hook in hooks:
                await hook.on_stored(conn, facts)
    for hook in hooks:
        await hook.after_commit()


def _rejection(line: int, problem: Problem, raw: str, source: str, now: datetime) -> Rejection:
    located = Problem(problem.kind, problem.field, f"line {line}: {problem.reason}")
    return activity_service.rejection(located, source=source, raw=raw, received_at=now)


def latest_allowed(skew: timedelta) -> int:
    return activity_service.latest_allowed(datetime.now(UTC), skew)
