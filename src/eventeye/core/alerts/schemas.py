"""API models of alerts, stream tokens, webhooks and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints

from eventeye.core.alerts.repository import Alert, Delivery, Webhook


class AlertItem(BaseModel):
    id: uuid.UUID
    rule: str
    kind: str
    module: str
    key: str = Field(description="The sequence the alert is about (the rule's key values; empty for a global rule)")
    severity: str
    event_ids: list[str] = Field(description="The events that triggered it")
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, alert: Alert) -> AlertItem:
        return cls(**{name: getattr(alert, name) for name in Alert.__slots__})


class AlertPage(BaseModel):
    items: list[AlertItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class StreamToken(BaseModel):
    token: str = Field(description="Pass as `?token=` to `GET /v1/alerts/stream` (EventSource cannot send headers)")
    token_type: Literal["stream"] = "stream"
    expires_in: int = Field(description="Seconds the token stays valid for opening a stream")


WebhookUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="Rules name it in their sinks")
    url: WebhookUrl
    max_attempts: int | None = Field(default=None, ge=1, le=100, description="Before a delivery is dead-lettered")


class WebhookOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    max_attempts: int | None
    created_at: datetime

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id,
            name=webhook.name,
            url=webhook.url,
            max_attempts=webhook.max_attempts,
            created_at=webhook.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (X-EventEye-Signature); shown only now")


class DeliveryItem(BaseModel):
    id: uuid.UUID
    alert_id: uuid.UUID
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None = Field(description="The receiver's last HTTP status, if it answered")
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryItem:
        fields = set(cls.model_fields)
        return cls.model_validate({name: getattr(delivery, name) for name in Delivery.__slots__ if name in fields})


class DeliveryPage(BaseModel):
    items: list[DeliveryItem]
    next_cursor: str | None
