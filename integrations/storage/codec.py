"""JSON codecs for the core types the storage keeps in JSON columns.

Every field round-trips, including enums, ``Location`` and timezone-aware
datetimes (stored as ISO 8601 strings in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.types import (
    Button,
    ConversationKey,
    EventKind,
    InboundKind,
    InboundMessage,
    Location,
    OutboundKind,
    OutboundMessage,
)

__all__ = [
    "as_utc",
    "inbound_from_json",
    "inbound_to_json",
    "outbound_from_json",
    "outbound_to_json",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def outbound_to_json(message: OutboundMessage) -> dict[str, Any]:
    return {
        "kind": message.kind.value,
        "text": message.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
        "image_url": message.image_url,
        "image_media_id": message.image_media_id,
    }


def outbound_from_json(data: dict[str, Any]) -> OutboundMessage:
    return OutboundMessage(
        kind=OutboundKind(data["kind"]),
        text=data.get("text") or "",
        buttons=tuple(
            Button(title=b["title"], payload=b["payload"]) for b in data.get("buttons") or ()
        ),
        image_url=data.get("image_url"),
        image_media_id=data.get("image_media_id"),
    )


def _location_to_json(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {
        "latitude": location.latitude,
        "longitude": location.longitude,
        "label": location.label,
        "precision": location.precision,
    }


def _location_from_json(data: dict[str, Any] | None) -> Location | None:
    if data is None:
        return None
    precision = data.get("precision")
    return Location(
        latitude=float(data["latitude"]),
        longitude=float(data["longitude"]),
        label=data.get("label"),
        precision=None if precision is None else float(precision),
    )


def inbound_to_json(message: InboundMessage) -> dict[str, Any]:
    return {
        "key": message.key.as_str(),
        "message_id": message.message_id,
        "kind": message.kind.value,
        "received_at": as_utc(message.received_at).isoformat(),
        "text": message.text,
        "payload": message.payload,
        "media_id": message.media_id,
        "media_url": message.media_url,
        "media_format": message.media_format,
        "location": _location_to_json(message.location),
        "event": message.event.value if message.event is not None else None,
        "event_key": message.event_key,
        "raw_type": message.raw_type,
    }


def inbound_from_json(data: dict[str, Any]) -> InboundMessage:
    event = data.get("event")
    return InboundMessage(
        key=ConversationKey.parse(data["key"]),
        message_id=data["message_id"],
        kind=InboundKind(data["kind"]),
        received_at=as_utc(datetime.fromisoformat(data["received_at"])),
        text=data.get("text"),
        payload=data.get("payload"),
        media_id=data.get("media_id"),
        media_url=data.get("media_url"),
        media_format=data.get("media_format"),
        location=_location_from_json(data.get("location")),
        event=EventKind(event) if event is not None else None,
        event_key=data.get("event_key"),
        raw_type=data.get("raw_type"),
    )
