"""``eventeye plans ...``: running a provider sync by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from eventeye.config import Settings
from eventeye.core.storage import migrations
from eventeye.core.storage.engine import create_engine
from eventeye.errors import EventeyeError
from eventeye.plans.handlers import build_syncer
from eventeye.plans.repository import SyncRun
from eventeye.plans.sync import lower_priority

app = typer.Typer(help="The plans module: the provider's events.", no_args_is_help=True)

EXIT_FAILED = 1
EXIT_BUSY = 75  # EX_TEMPFAIL: another process is syncing; try again later


async def _sync_once(settings: Settings, url: str | None) -> SyncRun | None:
    engine = create_engine(settings.resolved_database_url)
    try:
        if settings.is_embedded:
            await migrations.upgrade(engine)
        elif missing := await migrations.pending(engine):
            raise EventeyeError(f"the database schema is not current (pending: {', '.join(sorted(missing))})")
        return await build_syncer(settings, engine, url=url).run(trigger="cli")
    finally:
        await engine.dispose()


@app.command()
def sync(
    url: Annotated[str | None, typer.Option(help="Feed URL (default EVENTEYE_PLANS_PROVIDER_URL).")] = None,
) -> None:
    """Sync the provider's feed once and report what changed."""
    from eventeye.cli import run_db  # the top-level CLI mounts this one

    settings_url = url

    async def work(settings: Settings) -> SyncRun | None:
        if not (settings_url or settings.plans_provider_url):
            raise EventeyeError("no provider: set EVENTEYE_PLANS_PROVIDER_URL or pass --url")
        # A process of its own doing background work: all of it yields the cores to serving.
        lower_priority(settings.plans_sync_nice, idle=settings.plans_sync_idle)
        return await _sync_once(settings, settings_url)

    run = run_db(work)
    if run is None:
        typer.echo("another process is syncing the provider now; nothing done", err=True)
        raise typer.Exit(EXIT_BUSY)
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
    typer.echo(
        f"{run.outcome} in {seconds:.1f}s: {run.new} new, {run.updated} updated, {run.unchanged} unchanged, "
        f"{run.invalid} invalid, {run.offline} offline ({run.feed_bytes} bytes)"
    )
    for issue in run.issues[:10]:
        typer.echo(f"  skipped {issue['element']} at line {issue['line']}: {issue['reason']}")
    if run.error:
        typer.echo(f"error: {run.error}", err=True)
    if run.outcome != "succeeded":
        raise typer.Exit(EXIT_FAILED)
