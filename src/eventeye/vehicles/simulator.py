"""A detections producer: realistic vehicles at a steady rate, into the topic or ``POST /detections``.

The original producer printed Python dicts (``{'Year': 2011, ...}``); ``form="repr"``
sends that form, ``form="json"`` sends JSON.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import orjson

from eventeye.core.bus import Bus, BusError, Message

Form = Literal["json", "repr"]
TICK = 0.02
HTTP_BATCH = 1000

# (Make, Model, Category, first model year, last model year)
CATALOGUE: tuple[tuple[str, str, str, int, int], ...] = (
    ("Toyota", "Land Cruiser", "SUV", 1990, 2021),
    ("Toyota", "RAV4", "SUV", 1996, 2023),
    ("Toyota", "Corolla", "Sedan", 1990, 2023),
    ("Toyota", "Camry", "Sedan", 1992, 2023),
    ("Toyota", "Tacoma", "Pickup", 1995, 2023),
    ("Toyota", "Sienna", "Minivan", 1998, 2023),
    ("Honda", "Civic", "Sedan", 1992, 2023),
    ("Honda", "Accord", "Sedan", 1990, 2023),
    ("Honda", "CR-V", "SUV", 1997, 2023),
    ("Honda", "Pilot", "SUV", 2003, 2023),
    ("Honda", "Element", "SUV", 2003, 2011),
    ("Honda", "Odyssey", "Minivan", 1995, 2023),
    ("Ford", "F-150", "Pickup", 1990, 2023),
    ("Ford", "Explorer", "SUV", 1991, 2023),
    ("Ford", "Mustang", "Coupe", 1990, 2023),
    ("Ford", "Focus", "Hatchback", 2000, 2018),
    ("Ford", "Transit", "Van", 2015, 2023),
    ("Chevrolet", "Silverado 1500", "Pickup", 1999, 2023),
    ("Chevrolet", "Tahoe", "SUV", 1995, 2023),
    ("Chevrolet", "Malibu", "Sedan", 1997, 2023),
    ("Chevrolet", "Corvette", "Coupe", 1990, 2023),
    ("Chevrolet", "Express 2500", "Van", 1996, 2023),
    ("Jeep", "Wrangler", "SUV", 1990, 2023),
    ("Jeep", "Patriot", "SUV", 2007, 2017),
    ("Jeep", "Grand Cherokee", "SUV", 1993, 2023),
    ("Nissan", "Altima", "Sedan", 1993, 2023),
    ("Nissan", "Frontier", "Pickup", 1998, 2023),
    ("Nissan", "Rogue", "SUV", 2008, 2023),
    ("Hyundai", "Elantra", "Sedan", 1992, 2023),
    ("Hyundai", "Santa Fe", "SUV", 2001, 2023),
    ("Kia", "Sorento", "SUV", 2003, 2023),
    ("Kia", "Soul", "Hatchback", 2010, 2023),
    ("Volkswagen", "Golf", "Hatchback", 1990, 2021),
    ("Volkswagen", "Jetta", "Sedan", 1990, 2023),
    ("Subaru", "Outback", "Wagon", 1995, 2023),
    ("Subaru", "Forester", "SUV", 1998, 2023),
    ("BMW", "3 Series", "Sedan", 1990, 2023),
    ("BMW", "X5", "SUV", 2000, 2023),
    ("Mercedes-Benz", "C-Class", "Sedan", 1994, 2023),
    ("Mazda", "MX-5 Miata", "Convertible", 1990, 2023),
    ("Dodge", "Ram 1500", "Pickup", 1994, 2023),
    ("Dodge", "Grand Caravan", "Minivan", 1990, 2020),
)


def detections(rng: random.Random) -> Iterator[dict[str, Any]]:
    """Endless random detections from the catalogue."""
    while True:
        make, model, category, first, last = rng.choice(CATALOGUE)
        yield {"Year": rng.randint(first, last), "Make": make, "Model": model, "Category": category}


def render(detection: dict[str, Any], form: Form) -> bytes:
    return orjson.dumps(detection) if form == "json" else repr(detection).encode()


@dataclass(frozen=True, slots=True)
class Plan:
    """How many detections to send, how fast, for how long, in which form."""

    rate: float
    count: int | None = None
    duration: float | None = None
    form: Form = "json"
    seed: int | None = None


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


Send = Callable[[list[dict[str, Any]]], Awaitable[None]]


async def paced(plan: Plan, send: Send) -> Report:
    """Call ``send`` with what is due every tick, until ``count`` were sent or ``duration`` passed."""
    rng = random.Random(plan.seed)
    source = detections(rng)
    report = Report()
    started = time.monotonic()
    due = 0.0
    while plan.count is None or report.sent + report.failed < plan.count:
        elapsed = time.monotonic() - started
        if plan.duration is not None and elapsed >= plan.duration:
            break
        due = plan.rate * elapsed - report.sent - report.failed
        take = int(due) if plan.count is None else min(int(due), plan.count - report.sent - report.failed)
        if take <= 0:
            await asyncio.sleep(TICK)
            continue
        batch = [next(source) for _ in range(take)]
        try:
            await send(batch)
            report.sent += take
        except (BusError, httpx.HTTPError) as exc:
            report.failed += take
            print(f"{take} detection(s) not sent: {exc}")  # noqa: T201 (a command's output)
    report.seconds = time.monotonic() - started
    return report


async def produce_to_topic(bus: Bus, topic: str, plan: Plan, *, partitions: int = 1) -> Report:
    """Publish to ``topic`` (created if missing); each batch waits for the broker's acknowledgement."""
    await bus.ensure_topics([topic], partitions=partitions)
    async with bus.publisher() as publisher:

        async def send(batch: list[dict[str, Any]]) -> None:
            await publisher.publish_many(Message(topic, render(item, plan.form)) for item in batch)

        return await paced(plan, send)


async def produce_to_http(url: str, api_key: str, plan: Plan) -> Report:
    """``POST /detections`` with arrays of up to 1,000 (JSON only: the HTTP API takes no other form)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:

        async def send(batch: list[dict[str, Any]]) -> None:
            for start in range(0, len(batch), HTTP_BATCH):
                response = await http.post("/detections", json=batch[start : start + HTTP_BATCH])
                response.raise_for_status()

        return await paced(plan, send)
