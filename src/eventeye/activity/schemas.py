"""The activity module's vocabulary (detection types and groups) and API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MODULE = "activity"
EVENT_TYPE = "detection"
DEFAULT_CAMERA = "default"
CAMERA_MAX_LENGTH = 100

# Types and groups are stored as small integers: their position in these tuples.
TYPES = ("pedestrian", "bicycle", "car", "truck", "van")
GROUPS = ("people", "vehicles")
KIND_OF = {name: kind for kind, name in enumerate(TYPES)}
GROUP_OF_KIND = (0, 0, 1, 1, 1)

DetectionType = Literal["pedestrian", "bicycle", "car", "truck", "van"]


Detection = tuple[str, int, int, int]
"""A valid detection: ``(camera_id, time_us, kind, group)``, time in epoch microseconds.

A plain tuple on purpose: bulk loads make millions of them."""


class DetectionIn(BaseModel):
    """One detection as a camera pipeline sends it (documents the body; ``service.check`` checks it)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(default=None, description="Client-chosen id; re-sending it never stores it twice")
    time: datetime = Field(description="When it was detected: ISO 8601 (no zone: UTC)")
    type: DetectionType
    camera_id: str = Field(default=DEFAULT_CAMERA, min_length=1, max_length=CAMERA_MAX_LENGTH)


class Accepted(BaseModel):
    accepted: int
    ids: list[uuid.UUID]


class Periods(BaseModel):
    """Periods of activity per group: ``[start, end]`` pairs in time order (a lone detection has start == end)."""

    people: list[tuple[datetime, datetime]]
    vehicles: list[tuple[datetime, datetime]]
