"""``eventeye vehicles``: commands of the vehicles module."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError

from eventeye.config import describe_error, get_settings
from eventeye.core.bus import create_bus
from eventeye.vehicles.simulator import Plan, Report, produce_to_http, produce_to_topic

app = typer.Typer(help="Vehicle detections: simulate the producer.", no_args_is_help=True)


@app.command("produce")
def produce(
    rate: Annotated[float, typer.Option(min=0.1, max=1_000_000, help="Detections per second.")],
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many (default: run until stopped).")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    url: Annotated[
        str | None, typer.Option(help="POST to this server instead of the topic (default without Kafka).")
    ] = None,
    api_key: Annotated[
        str, typer.Option(envvar="EVENTEYE_API_KEY", show_default=False, help="An `ingest` key (for --url).")
    ] = "",
    topic: Annotated[str | None, typer.Option(help="Topic (default EVENTEYE_VEHICLES_DETECTIONS_TOPIC).")] = None,
    form: Annotated[str, typer.Option(help="json, or repr (the original producer's single-quoted dicts).")] = "json",
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable runs.")] = None,
) -> None:
    """Send realistic vehicle detections at a steady rate, to the detections topic or the HTTP API."""
    if form not in ("json", "repr"):
        raise typer.BadParameter("json or repr", param_hint="--form")
    plan = Plan(rate=rate, count=count, duration=duration, form="repr" if form == "repr" else "json", seed=seed)
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise typer.BadParameter(describe_error(exc), param_hint="settings") from None
    if url is None and not settings.kafka_bootstrap_servers:
        url = f"http://{settings.host}:{settings.port}"
    if url is not None:
        if not api_key:
            raise typer.BadParameter("give --api-key or set EVENTEYE_API_KEY", param_hint="--api-key")
        if plan.form != "json":
            raise typer.BadParameter("the HTTP API takes JSON only", param_hint="--form")
        report = asyncio.run(produce_to_http(url.rstrip("/"), api_key, plan))
    else:
        target = topic or settings.vehicles_detections_topic
        bus = create_bus(settings)
        report = asyncio.run(produce_to_topic(bus, target, plan, partitions=settings.vehicles_topic_partitions))
    _print(report)
    raise typer.Exit(0 if report.failed == 0 else 1)


def _print(report: Report) -> None:
    typer.echo(
        f"sent {report.sent} detection(s) in {report.seconds:.1f}s ({report.rate:.0f}/s), failed {report.failed}"
    )
