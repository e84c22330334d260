"""The vehicles module's detection message and API shapes.

A detection keeps the field names of the original producer (``Year``,
``Make``, ``Model``, ``Category``) on the wire, in the API and in alerts.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

MODULE = "vehicles"
DETECTION = "detection"
YEAR_MIN = 1886
YEAR_MAX = 2100
NAME_MAX = 100
NUL_REASON = "must not contain NUL characters"


class DetectionIn(BaseModel):
    """One detection as the producer sends it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    year: StrictInt = Field(alias="Year", ge=YEAR_MIN, le=YEAR_MAX, examples=[2011])
    make: str = Field(alias="Make", min_length=1, max_length=NAME_MAX, examples=["Toyota"])
    model: str = Field(alias="Model", min_length=1, max_length=NAME_MAX, examples=["Land Cruiser"])
    category: str = Field(alias="Category", min_length=1, max_length=NAME_MAX, examples=["SUV"])

    @field_validator("make", "model", "category")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError(NUL_REASON)
        return value


class Accepted(BaseModel):
    accepted: int
    ids: list[uuid.UUID]


class DetectionOut(BaseModel):
    """A stored detection: its id, when it was indexed, and what was seen."""

    model_config = ConfigDict(populate_by_name=True)

    id: uuid.UUID
    indexed_at: datetime
    year: int = Field(alias="Year")
    make: str = Field(alias="Make")
    model: str = Field(alias="Model")
    category: str = Field(alias="Category")


class DetectionPage(BaseModel):
    total: int = Field(description="Every stored detection")
    skip: int
    limit: int
    items: list[DetectionOut] = Field(description="Newest first")


class MakeCount(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    make: str = Field(alias="Make")
    count: int


class Stats(BaseModel):
    start: datetime | None
    end: datetime | None
    total: int
    items: list[MakeCount] = Field(description="Detections per Make, most first")
