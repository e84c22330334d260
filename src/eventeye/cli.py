"""The ``eventeye`` command line."""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar
from wsgiref.simple_server import WSGIServer

import typer
import uvicorn
from prometheus_client import start_http_server
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventeye import __version__, process
from eventeye.activity import cli as activity_cli
from eventeye.client.cli import send as send_events
from eventeye.config import ConfigFileError, Settings, describe_error, get_settings
from eventeye.core.auth import repository as auth_repository
from eventeye.core.auth import service as auth_service
from eventeye.core.storage import migrations
from eventeye.core.storage.engine import check_connection, create_engine
from eventeye.criticality import cli as criticality_cli
from eventeye.errors import EventeyeError
from eventeye.logs import configure_logging
from eventeye.plans import cli as plans_cli
from eventeye.process import running
from eventeye.vehicles import cli as vehicles_cli

app = typer.Typer(help="eventeye: collect, store, query and alert on events.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
apps_app = typer.Typer(help="Manage applications and their API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(apps_app, name="apps")
app.command("send")(send_events)
app.add_typer(criticality_cli.app, name="criticality")
app.add_typer(plans_cli.app, name="plans")
app.add_typer(vehicles_cli.app, name="vehicles")
app.add_typer(activity_cli.app, name="activity")

T = TypeVar("T")


def load_settings() -> Settings:
    """The settings, or exit with one line naming the bad variable."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        typer.echo(f"error: {describe_error(exc)}", err=True)
        raise typer.Exit(2) from exc
    except ConfigFileError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, settings.log_format)
    return settings


def run_db(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` against a migrated database, turning eventeye errors into one line."""
    settings = load_settings()
    try:
        return asyncio.run(work(settings))
    except EventeyeError as exc:
        reasons = "; ".join(f"{d['field']}: {d['reason']}" for d in exc.details if "field" in d and "reason" in d)
        typer.echo(f"error: {exc.message}" + (f" ({reasons})" if reasons else ""), err=True)
        raise typer.Exit(1) from exc


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured database, known to be reachable; disposed afterwards."""
    engine = create_engine(settings.resolved_database_url)
    try:
        await check_connection(engine)
        yield engine
    finally:
        await engine.dispose()


async def prepare_schema(settings: Settings) -> None:
    """Before a process starts: migrate the embedded database, refuse an out-of-date PostgreSQL one.

    The process checks again on start; checking here first gives one clear line
    instead of a failed server start, and migrates SQLite once for all workers.
    """
    async with database(settings) as engine:
        await process.prepare_schema(settings, engine)


def _uvicorn(factory: str, host: str | None, port: int | None, workers: int) -> None:
    async def prepared(settings: Settings) -> Settings:
        await prepare_schema(settings)
        return settings

    settings = run_db(prepared)
    uvicorn.run(
        factory,
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        # Access lines are not logged (see ``logs``); without this uvicorn still
        # builds each one's arguments, the path quoted, before the level check.
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


HostOpt = Annotated[str | None, typer.Option(help="Address to bind (default EVENTEYE_HOST).")]
PortOpt = Annotated[int | None, typer.Option(help="Port to bind (default EVENTEYE_PORT).")]
WorkersOpt = Annotated[int, typer.Option(min=1, help="HTTP worker processes.")]


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = 1) -> None:
    """Run everything in one process: API, processor and background tasks."""
    _uvicorn("eventeye.app:serve_app", host, port, workers)


@app.command()
def api(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = 1) -> None:
    """Run the HTTP API only (pair it with `eventeye worker`)."""
    _uvicorn("eventeye.app:api_app", host, port, workers)


def _metrics_server(host: str, port: int | None) -> WSGIServer | None:
    """prometheus_client's own server, in a thread (the worker has no HTTP app); ``None`` without a port."""
    if port is None:
        return None
    try:
        return start_http_server(port, addr=host)[0]
    except OSError as exc:
        typer.echo(f"error: cannot serve metrics on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc


MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        min=1, max=65535, help="Serve Prometheus metrics on this port (default EVENTEYE_WORKER_METRICS_PORT)."
    ),
]


@app.command()
def worker(metrics_port: MetricsPortOpt = None) -> None:
    """Run processing and background tasks only, until SIGINT or SIGTERM."""

    async def work(settings: Settings) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await prepare_schema(settings)
        metrics = _metrics_server(settings.host, metrics_port or settings.worker_metrics_port)
        try:
            async with running(settings, {"worker"}):
                await stop.wait()
        finally:
            if metrics is not None:
                metrics.shutdown()

    run_db(work)


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""

    async def work(settings: Settings) -> None:
        async with database(settings) as engine:
            await migrations.upgrade(engine)

    run_db(work)
    typer.echo("database is up to date")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


async def _with_conn(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    async with database(settings) as engine:
        if settings.is_embedded:
            await migrations.upgrade(engine)
        async with engine.begin() as conn:
            return await work(conn)


@users_app.command("create")
def users_create(
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an admin.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
) -> None:
    """Create a user (prompts for the password unless --password-stdin)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")

    async def work(settings: Settings) -> None:
        async def create(conn: AsyncConnection) -> None:
            await auth_service.create_user(
                conn,
                username=username,
                password=password,
                email=email,
                is_admin=admin,
                min_password_length=settings.password_min_length,
            )

        await _with_conn(settings, create)

    run_db(work)
    typer.echo(f"created {'admin ' if admin else ''}user {username}")


@apps_app.command("create")
def apps_create(
    name: str,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="A scope (repeatable): ingest, read, admin, criticality.")
    ] = None,
) -> None:
    """Create an application and print its API key (shown only once)."""

    async def work(settings: Settings) -> str:
        async def create(conn: AsyncConnection) -> str:
            _, key = await auth_service.create_app(conn, name=name, scopes=scope or ["ingest"])
            return key

        return await _with_conn(settings, create)

    typer.echo(run_db(work))


@apps_app.command("list")
def apps_list() -> None:
    """List applications."""

    async def work(settings: Settings) -> list[str]:
        async def read(conn: AsyncConnection) -> list[str]:
            rows = await auth_repository.list_apps(conn)
            return [
                f"{a.name}\t{a.key_prefix}…\t{','.join(sorted(a.scopes))}\t{'revoked' if a.revoked_at else 'active'}"
                f"\tlast used {a.last_used_at.isoformat() if a.last_used_at else 'never'}"
                for a in rows
            ]

        return await _with_conn(settings, read)

    for line in run_db(work):
        typer.echo(line)


@apps_app.command("revoke")
def apps_revoke(name: str) -> None:
    """Revoke an application's API key."""

    async def work(settings: Settings) -> None:
        async def revoke(conn: AsyncConnection) -> None:
            await auth_service.revoke_app(conn, name=name)

        await _with_conn(settings, revoke)

    run_db(work)
    typer.echo(f"revoked {name}")


def main() -> None:
    app()
