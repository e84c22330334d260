"""One sync of the provider's feed into the catalogue.

Only the holder of the sync lease (a row with an expiry, renewed while the
sync runs) syncs, so several workers never sync at once. The feed is
downloaded (see ``providers``), parsed in a dedicated thread (see ``feed``;
checked whole first, then read element by element) and written in batches:
one read of the stored summaries and at most two writes per batch. Plans
are never deleted: those that leave the feed keep their ``last_seen_at``. A
sync that changed anything bumps the data version, which invalidates every
process's `/search` cache.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import IO, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.pacing import Pacer
from eventeye.core.storage.engine import write_transaction
from eventeye.core.storage.stamp import FileStamp
from eventeye.plans import repository as plans_repository
from eventeye.plans.feed import FeedError, FeedIssue, FeedPlan, FeedReader, check_well_formed
from eventeye.plans.metrics import SYNC_RUNS, SYNC_SECONDS, SYNCED_PLANS
from eventeye.plans.providers import ProviderClient, ProviderError
from eventeye.plans.repository import SyncRun

logger = logging.getLogger("eventeye.plans.sync")

PLAN_NAMESPACE = uuid.UUID("5b0c6c1e-8f7c-4c55-9a47-2a4f3d6f1e01")
BATCH_SIZE = 500
PAUSE_EVERY = 25  # plans (each with its zones) between two calls to the pacer: ~10 ms of parsing
MAX_RECORDED_ISSUES = 100


class LeaseLost(Exception):
    """Another process took the sync lease (ours expired): stop writing."""


def plan_id(provider: str, base_event_id: str, event_id: str) -> uuid.UUID:
    """The plan's stable id: the same on every sync, every restart and every machine."""
    # \x1f cannot occur in XML attribute values, so the name is unambiguous.
    return uuid.uuid5(PLAN_NAMESPACE, f"{provider}\x1f{base_event_id}\x1f{event_id}")


def render_summary(plan_uuid: uuid.UUID, plan: FeedPlan) -> bytes:
    """The plan as `/search` shows it, rendered once at sync time."""
    return orjson.dumps(
        {
            "id": plan_uuid,
            "title": plan.title,
            "start_date": plan.starts_at.date().isoformat(),
            "start_time": plan.starts_at.strftime("%H:%M:%S"),
            "end_date": plan.ends_at.date().isoformat(),
            "end_time": plan.ends_at.strftime("%H:%M:%S"),
            "min_price": plan.min_price,
            "max_price": plan.max_price,
        }
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    offline: int = 0
    issues: list[dict[str, Any]] = field(default_factory=list)

    def record(self, issues: list[FeedIssue]) -> None:
        room = MAX_RECORDED_ISSUES - len(self.issues)
        self.issues.extend(issue.as_dict() for issue in issues[: max(0, room)])


@dataclass
class Syncer:
    """Everything one process needs to sync a provider."""

    engine: AsyncEngine
    client: ProviderClient
    provider: str
    lease_ttl: timedelta
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    batch_size: int = BATCH_SIZE
    parser_nice: int = 0
    """How much lower the parser thread's CPU priority is (Linux): parsing yields to serving on shared cores."""
    parser_idle: bool = False
    """Also put the parser thread in Linux's idle scheduling class (CPU time no one else wants)."""
    cpu_share: float = 1.0
    """While other processes keep the machine busy, the most CPU the parsing, and the writing, each use
    (a share of one core; see ``eventeye.core.pacing``)."""
    stamp: FileStamp | None = None
    """On a SQLite file, where `/search` reads the data version (see ``eventeye.core.storage.stamp``)."""

    @property
    def lease_name(self) -> str:
        return f"sync:{self.provider}"

    async def run(self, *, trigger: str) -> SyncRun | None:
        """Sync once; ``None`` when another process holds the lease. Never raises for provider or feed errors."""
        started = utcnow()
        async with write_transaction(self.engine) as conn:
            if not await plans_repository.acquire_lease(
                conn, name=self.lease_name, holder=self.holder, now=started, ttl=self.lease_ttl
            ):
                logger.info("plans sync skipped: another process holds the lease")
                return None
            # Holding the lease, no other run can still be going: any left running was interrupted.
            await plans_repository.fail_running_sync_runs(
                conn, provider=self.provider, at=started, error="interrupted: its process stopped"
            )
            if self.stamp is not None:  # repairs a stamp left ahead by a run that stopped before its commit
                self.stamp.write(await plans_repository.get_data_version(conn))
            run = SyncRun(
                id=uuid.uuid4(), provider=self.provider, trigger=trigger, holder=self.holder, started_at=started,
                finished_at=None, outcome="running", error=None, feed_bytes=0, new=0, updated=0, unchanged=0,
                invalid=0, offline=0, issues=[],
            )  # fmt: skip
            await plans_repository.create_sync_run(conn, run=run)
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(lost))
        try:
            return await self._run_holding_lease(run, lost)
        finally:
            keeper.cancel()
            await self._release()

    async def _run_holding_lease(self, run: SyncRun, lost: asyncio.Event) -> SyncRun:
        counts = Counts()
        outcome, error = "succeeded", None
        try:
            async with self.client.fetch() as feed:
                run = replace(run, feed_bytes=feed.size)
                await self._apply(feed.body, counts, run.started_at, lost)
        except (ProviderError, FeedError, LeaseLost) as exc:
            outcome, error = "failed", str(exc)
        except asyncio.CancelledError:
            outcome, error = "failed", "interrupted: the process is stopping"
            raise
        except Exception as exc:
            logger.exception("plans sync failed")
            outcome, error = "failed", f"internal error: {type(exc).__name__}"
        finally:
            run = await asyncio.shield(self._finish(run, counts, outcome, error))
        log = logger.info if outcome == "succeeded" else logger.warning
        log("plans sync %s: %s", outcome, error or _describe(run))
        _observe(run)
        return run

    async def _apply(self, body: IO[bytes], counts: Counts, seen_at: datetime, lost: asyncio.Event) -> None:
        reader = FeedReader(body)
        pacer, writer = Pacer(self.cpu_share), Pacer(self.cpu_share)  # the parser thread's, the writes'
        prepare = partial(_prepare, iter(reader), self.batch_size, self.provider, seen_at, pacer.pause)
        loop = asyncio.get_running_loop()
        # lxml documents stay in the thread that created them: one parser thread per sync.
        with ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="plans-feed",
            initializer=lower_priority,
            initargs=(self.parser_nice, self.parser_idle),
        ) as parser:
            # A document cut short or broken anywhere changes nothing: check it all before using any of it.
            await loop.run_in_executor(parser, check_well_formed, body, pacer.pause)
            body.seek(0)
            pending = loop.run_in_executor(parser, prepare)
            try:
                while (batch := await pending) is not None:
                    pending = loop.run_in_executor(parser, prepare)  # parse ahead while this batch is written
                    if lost.is_set():
                        raise LeaseLost("the sync lease was lost; another process is syncing")
                    counts.record(batch.issues)
                    started = time.perf_counter()
                    await self._write(batch.rows, counts, seen_at)
                    await asyncio.sleep(writer.delay(time.perf_counter() - started))
            finally:
                pending.cancel()
        counts.invalid, counts.offline = reader.invalid, reader.offline
        if pacer.slept or writer.slept:
            logger.info("plans sync gave %.1fs to other work on a busy machine", pacer.slept + writer.slept)

    async def _write(self, rows: dict[uuid.UUID, dict[str, Any]], counts: Counts, seen_at: datetime) -> None:
        async with write_transaction(self.engine) as conn:
            stored = await plans_repository.get_summaries(conn, plan_ids=list(rows))
            changed = [row for key, row in rows.items() if stored.get(key) != row["summary"]]
            unchanged = [key for key, row in rows.items() if stored.get(key) == row["summary"]]
            await plans_repository.upsert_plans(conn, rows=changed)
            await plans_repository.touch_plans(conn, plan_ids=unchanged, seen_at=seen_at)
        new = sum(1 for row in changed if row["id"] not in stored)
        counts.new += new
        counts.updated += len(changed) - new
        counts.unchanged += len(unchanged)

    async def _finish(self, run: SyncRun, counts: Counts, outcome: str, error: str | None) -> SyncRun:
        run = replace(
            run, finished_at=utcnow(), outcome=outcome, error=error, new=counts.new, updated=counts.updated,
            unchanged=counts.unchanged, invalid=counts.invalid, offline=counts.offline, issues=counts.issues,
        )  # fmt: skip
        async with write_transaction(self.engine) as conn:
            if run.new or run.updated:
                version = await plans_repository.bump_data_version(conn, at=run.finished_at or utcnow())
                if self.stamp is not None:
                    # Before the commit: a stamp ahead of the data only costs cache misses (answers
                    # are cached under the version read with their data); one behind would be stale.
                    self.stamp.write(version)
            await plans_repository.update_sync_run(conn, run=run)
        return run

    async def _keep_lease(self, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease_ttl.total_seconds() / 3)
            try:
                async with write_transaction(self.engine) as conn:
                    held = await plans_repository.acquire_lease(
                        conn, name=self.lease_name, holder=self.holder, now=utcnow(), ttl=self.lease_ttl
                    )
            except Exception:
                logger.warning("could not renew the plans sync lease; retrying", exc_info=True)
                continue
            if not held:
                lost.set()
                return

    async def _release(self) -> None:
        try:
            async with write_transaction(self.engine) as conn:
                await plans_repository.release_lease(conn, name=self.lease_name, holder=self.holder, now=utcnow())
        except Exception:
            logger.warning("could not release the plans sync lease; it expires on its own", exc_info=True)


def lower_priority(nice: int, idle: bool = False) -> None:
    """Lower the calling thread's CPU priority by ``nice``, and with ``idle`` put it in the idle
    scheduling class (it runs only on CPU time no other thread wants). Threads it starts later
    inherit both. Linux only; elsewhere nothing changes."""
    if sys.platform != "linux":
        return
    try:
        if nice:
            os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
        if idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        logger.warning("could not lower the plans sync's CPU priority", exc_info=True)


@dataclass(frozen=True, slots=True)
class _Batch:
    rows: dict[uuid.UUID, dict[str, Any]]
    issues: list[FeedIssue]


def _prepare(
    items: Iterator[FeedPlan | FeedIssue], size: int, provider: str, seen_at: datetime, pause: Callable[[], None]
) -> _Batch | None:
    """The next rows to write (up to ``size``) with the issues met on the way; runs in the parser thread,
    calling ``pause`` every ``PAUSE_EVERY`` items."""
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    issues: list[FeedIssue] = []
    for count, item in enumerate(items, 1):
        if count % PAUSE_EVERY == 0:
            pause()
        if isinstance(item, FeedIssue):
            issues.append(item)
            if len(issues) >= size:
                break
            continue
        key = plan_id(provider, item.base_event_id, item.event_id)
        rows[key] = _row(key, provider, item, seen_at)
        if len(rows) >= size:
            break
    return _Batch(rows, issues) if rows or issues else None


def _row(key: uuid.UUID, provider: str, plan: FeedPlan, seen_at: datetime) -> dict[str, Any]:
    return {
        "id": key,
        "provider": provider,
        "base_event_id": plan.base_event_id,
        "event_id": plan.event_id,
        "title": plan.title,
        "starts_at": plan.starts_at,
        "ends_at": plan.ends_at,
        "min_price": plan.min_price,
        "max_price": plan.max_price,
        "summary": render_summary(key, plan),
        "first_seen_at": seen_at,
        "last_seen_at": seen_at,
        "updated_at": seen_at,
    }


def _observe(run: SyncRun) -> None:
    SYNC_RUNS.labels(run.outcome).inc()
    if run.finished_at is not None:
        SYNC_SECONDS.observe((run.finished_at - run.started_at).total_seconds())
    for kind in ("new", "updated", "unchanged", "invalid", "offline"):
        SYNCED_PLANS.labels(kind).inc(getattr(run, kind))


def _describe(run: SyncRun) -> str:
    return (
        f"{run.new} new, {run.updated} updated, {run.unchanged} unchanged, "
        f"{run.invalid} invalid, {run.offline} offline ({run.feed_bytes} bytes)"
    )
