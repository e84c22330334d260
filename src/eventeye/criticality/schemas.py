"""Request and response shapes: ``/secapp/update`` keeps its original field names."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class StatusChange(BaseModel):
    """The body of ``POST /secapp/update``; ``Change_at`` only by that exact name."""

    current_status: int = Field(strict=True, description="The new criticality level", examples=[5])
    change_at: AwareDatetime = Field(
        alias="Change_at",
        strict=True,
        description="When the change happened: an ISO 8601 instant with its offset",
        examples=["2017-07-21T17:32:28Z"],
    )

    @field_validator("change_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the supported range of instants") from None


class Processed(BaseModel):
    """The answer to ``POST /secapp/update``."""

    processed_id: int = Field(description="The change's id: unique, and increasing in the order changes arrive")


class SecappState(BaseModel):
    """The answer to ``GET /secapp/update`` when there is a state the app has not been told yet."""

    model_config = ConfigDict(populate_by_name=True)

    current_status: int
    status_change_id: int = Field(description="The processed_id of the change")
    change_at: str = Field(alias="Change_at", examples=["2017-07-21T17:32:28Z"])


class ChangeRead(BaseModel):
    """One recorded status change."""

    processed_id: int
    producer: str = Field(description="The App-name that posted the change")
    current_status: int
    change_at: datetime
    received_at: datetime


class HistoryPage(BaseModel):
    items: list[ChangeRead]
    next_cursor: int | None = Field(description="Pass as `cursor` to get the next (older) page; null on the last")


class NotifiedState(BaseModel):
    processed_id: int
    current_status: int
    change_at: datetime


class ConsumerRead(BaseModel):
    """A consumer app: when it polled, and the last state it was given."""

    app_name: str
    first_poll_at: datetime
    last_poll_at: datetime
    polls: int
    notified: NotifiedState | None
    notified_at: datetime | None
    overdue: bool = Field(description="True when it has not polled for EVENTEYE_CRITICALITY_CONSUMER_TIMEOUT")


class ConsumersPage(BaseModel):
    items: list[ConsumerRead]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last")
