"""The vehicles module's logic: reading detections (JSON, or the producer's Python-dict form),
the suspicious categories and their rule, and turning request bodies into envelopes."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from eventeye.config import Settings
from eventeye.core.pipeline.envelope import Envelope, Rejection, new_event_id
from eventeye.core.pipeline.kafka_source import InvalidRecord
from eventeye.errors import BadRequest, InvalidInput, PayloadTooLarge, field_detail
from eventeye.vehicles.schemas import DETECTION, MODULE, NAME_MAX, NUL_REASON, YEAR_MAX, YEAR_MIN, DetectionIn

MAX_LITERAL_BYTES = 1024
"""The single-quoted (Python dict) form is parsed only up to this size."""
RAW_LIMIT = 8192
RULE_NAME = "vehicles.suspicious"
NAMES = ("Make", "Model", "Category")

Detection = tuple[int, str, str, str]
_items_adapter = TypeAdapter(list[DetectionIn])


def parse_message(value: bytes) -> Any:
    """A message's content: JSON, or a Python dict literal of str/int values (``{'Year': 2011, ...}``)."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        pass
    if len(value) > MAX_LITERAL_BYTES:
        raise InvalidRecord(f"not JSON (and over {MAX_LITERAL_BYTES} bytes for the single-quoted form)")
    try:
        text = value.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidRecord("not JSON, not UTF-8 text") from None
    if not text.startswith("{"):
        raise InvalidRecord("neither JSON nor a single-quoted object")
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise InvalidRecord("neither JSON nor a single-quoted object") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(key, str) and isinstance(item, str | int) and not isinstance(item, bool)
        for key, item in parsed.items()
    ):
        raise InvalidRecord("a single-quoted object may hold only text and integer values")
    return parsed


def check_detection(data: Any) -> Detection:
    """``(Year, Make, Model, Category)`` of a parsed message, or ``InvalidRecord`` naming the field."""
    # The common case in one go; anything else goes the slow way, which says what is wrong.
    if type(data) is dict:
        year, make, model, category = data.get("Year"), data.get("Make"), data.get("Model"), data.get("Category")
        if type(year) is int and type(make) is str and type(model) is str and type(category) is str:
            make, model, category = make.strip(), model.strip(), category.strip()
            if (
                YEAR_MIN <= year <= YEAR_MAX
                and 0 < len(make) <= NAME_MAX
                and 0 < len(model) <= NAME_MAX
                and 0 < len(category) <= NAME_MAX
                and "\x00" not in make
                and "\x00" not in model
                and "\x00" not in category
            ):
                return year, make, model, category
    return _explain(data)


def _explain(data: Any) -> Detection:
    if not isinstance(data, dict):
        raise InvalidRecord("expected an object with Year, Make, Model and Category", field="$")
    year = data.get("Year")
    if type(year) is not int:
        raise InvalidRecord("is required" if year is None else "must be an integer", field="Year")
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidRecord(f"must be between {YEAR_MIN} and {YEAR_MAX}", field="Year")
    make, model, category = (_name(data, name) for name in NAMES)
    return year, make, model, category


def _name(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if type(value) is not str:
        raise InvalidRecord("is required" if value is None else "must be a string", field=name)
    value = value.strip()
    if not 0 < len(value) <= NAME_MAX:
        raise InvalidRecord(f"must have 1 to {NAME_MAX} characters", field=name)
    if "\x00" in value:
        raise InvalidRecord(NUL_REASON, field=name)
    return value


def detection_body(detection: Detection) -> bytes:
    """The canonical JSON of a detection, as envelopes carry it."""
    year, make, model, category = detection
    return orjson.dumps({"Year": year, "Make": make, "Model": model, "Category": category})


def parse_record(value: bytes) -> tuple[str, bytes]:
    """A Kafka record's value as an envelope's ``(type, body)`` (see ``core.pipeline.kafka_source``)."""
    return DETECTION, detection_body(check_detection(parse_message(value)))


def suspicious_categories(setting: str) -> list[str]:
    """``SUV`` or ``SUV, Pickup``: the categories that raise an alert."""
    return [part.strip() for part in setting.split(",") if part.strip()]


def default_rule(settings: Settings) -> dict[str, Any]:
    """An alert for every detection whose Category is suspicious, to the alerts topic when Kafka is set."""
    categories = suspicious_categories(settings.suspicious_vehicle)
    sinks = [{"kind": "kafka", "topic": settings.vehicles_alerts_topic}] if settings.kafka_bootstrap_servers else []
    return {
        "name": RULE_NAME,
        "kind": "match",
        "description": f"A suspicious vehicle was detected (Category in {', '.join(categories) or 'none'})",
        "types": [DETECTION],
        "when": [{"field": "Category", "op": "in", "values": categories or [""], "case_insensitive": True}],
        "sinks": sinks,
        "enabled": bool(categories),
    }


class RejectedDetections(Exception):
    """A request whose detections were refused as a whole; carries what to record and answer."""

    def __init__(self, error: BadRequest | InvalidInput | PayloadTooLarge, rejections: list[Rejection]) -> None:
        super().__init__(error.message)
        self.error = error
        self.rejections = rejections


def _rejected(source: str, field: str, reason: str, raw: bytes) -> Rejection:
    return Rejection(
        kind="malformed",
        module=MODULE,
        reason=reason,
        field=field,
        type=DETECTION,
        source=source,
        raw=raw[:RAW_LIMIT].decode("utf-8", "replace"),
        received_at=datetime.now(UTC),
    )


def read_detections(body: bytes, *, source: str, max_items: int) -> list[DetectionIn]:
    """The detections of a JSON object or array body; ``RejectedDetections`` says what is wrong."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        not_json = BadRequest("the body is not valid JSON", details=[field_detail("body", str(exc))])
        raise RejectedDetections(not_json, [_rejected(source, "body", f"not valid JSON: {exc}", body)]) from None
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise InvalidInput("no detections in the body", details=[field_detail("body", "expected at least one")])
    if len(items) > max_items:
        reason = f"{len(items)} detections; the limit is {max_items}"
        raise PayloadTooLarge(f"at most {max_items} detections per request", details=[field_detail("body", reason)])
    try:
        return _items_adapter.validate_python(items)
    except ValidationError as exc:
        details, rejections = [], []
        for problem in exc.errors(include_url=False):
            index, *path = problem["loc"]
            field = ".".join(str(part) for part in path) or "$"
            details.append(field_detail(field, problem["msg"], index=index))
            raw = orjson.dumps(items[index]) if isinstance(index, int) else body
            rejections.append(_rejected(source, field, problem["msg"], raw))
        error = InvalidInput(f"{len(details)} problem(s) in the detections; none was accepted", details=details)
        raise RejectedDetections(error, rejections) from None


def to_envelopes(items: Sequence[DetectionIn], *, source: str) -> list[Envelope]:
    received_at = datetime.now(UTC)
    return [
        Envelope(
            id=new_event_id(),
            module=MODULE,
            type=DETECTION,
            source=source,
            received_at=received_at,
            body=detection_body((item.year, item.make, item.model, item.category)),
        )
        for item in items
    ]
