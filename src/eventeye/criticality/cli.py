"""``eventeye criticality``: commands of the criticality module."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
import typer

from eventeye.criticality.simulator import Plan, simulate

app = typer.Typer(help="Criticality broadcast: simulate producer and consumer apps.", no_args_is_help=True)


def _print_report(result: dict[str, Any]) -> None:
    latest = result["latest"]
    if latest:
        print(f"latest state: processed_id {latest['status_change_id']}, current_status {latest['current_status']}")
    else:
        print("latest state: none (nothing was posted)")
    for name in ("posts", "polls"):
        stats = result[name]
        print(f"{name}: {stats['count']} requests, p50 {stats['p50_ms']} ms, p99 {stats['p99_ms']} ms")
    for producer in result["producers"]:
        print(f"producer {producer['name']}: posted {producer['posted']}, errors {producer['errors']}")
    for consumer in result["consumers"]:
        flags = [] if consumer["up_to_date"] else ["NOT UP TO DATE"]
        flags += [f"TOLD TWICE {consumer['told_twice']}"] if consumer["told_twice"] else []
        flags += [] if consumer["in_order"] else ["OUT OF ORDER"]
        print(
            f"consumer {consumer['name']}: {consumer['polls']} polls, errors {consumer['errors']}, "
            f"told {consumer['status_change_ids']} {' '.join(flags)}".rstrip()
        )
    print("ok" if result["ok"] else "FAILED")


@app.command("simulate")
def simulate_command(
    producers: Annotated[int, typer.Option(min=0, max=1000, help="Producer apps.")] = 2,
    consumers: Annotated[int, typer.Option(min=0, max=1000, help="Consumer apps.")] = 3,
    duration: Annotated[float, typer.Option(min=0.1, max=3600, help="Seconds to run.")] = 10.0,
    url: Annotated[str, typer.Option(help="The server's base URL.")] = "http://127.0.0.1:8000",
    token: Annotated[
        str, typer.Option(envvar="EVENTEYE_CRITICALITY_TOKEN", show_default=False, help="The shared token.")
    ] = "",
    post_interval: Annotated[float, typer.Option(min=0.001, help="Mean seconds between a producer's posts.")] = 1.0,
    poll_interval: Annotated[float, typer.Option(min=0.001, help="Mean seconds between a consumer's polls.")] = 0.5,
    late_ratio: Annotated[float, typer.Option(min=0, max=1, help="Share of changes posted late.")] = 0.1,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable runs.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run producer and consumer apps against a server and report what each consumer saw."""
    if not token:
        raise typer.BadParameter("give --token or set EVENTEYE_CRITICALITY_TOKEN", param_hint="--token")
    plan = Plan(
        url=url.rstrip("/"),
        token=token,
        producers=producers,
        consumers=consumers,
        duration=duration,
        post_interval=post_interval,
        poll_interval=poll_interval,
        late_ratio=late_ratio,
        seed=seed,
    )
    result = asyncio.run(simulate(plan))
    if json_output:
        print(orjson.dumps(result).decode())
    else:
        _print_report(result)
    raise typer.Exit(0 if result["ok"] else 1)
