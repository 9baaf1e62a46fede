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
    StatusChange,
    TicketDraft,
    TicketStatus,
)

__all__ = [
    "as_utc",
    "inbound_from_json",
    "inbound_to_json",
    "outbound_from_json",
    "outbound_to_json",
    "status_change_from_json",
    "status_change_to_json",
    "ticket_draft_from_json",
    "ticket_draft_to_json",
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
        "ticket_update": (
            status_change_to_json(message.ticket_update) if message.ticket_update else None
        ),
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
        # Rows written before the field existed have no "ticket_update".
        ticket_update=(
            status_change_from_json(data["ticket_update"]) if data.get("ticket_update") else None
        ),
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
        "status_change": (
            status_change_to_json(message.status_change) if message.status_change else None
        ),
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
        status_change=(
            status_change_from_json(data["status_change"]) if data.get("status_change") else None
        ),
    )


def status_change_to_json(change: StatusChange) -> dict[str, Any]:
    return {
        "ticket_id": change.ticket_id,
        "status": change.status.value,
        "at": as_utc(change.at).isoformat(),
        "note": change.note,
        "department": change.department,
        "previous": change.previous.value if change.previous else None,
        "adopted": change.adopted,
    }


def status_change_from_json(data: dict[str, Any]) -> StatusChange:
    previous = data.get("previous")
    adopted = data.get("adopted")
    return StatusChange(
        ticket_id=data["ticket_id"],
        status=TicketStatus(data["status"]),
        at=as_utc(datetime.fromisoformat(data["at"])),
        note=data.get("note"),
        department=data.get("department"),
        previous=TicketStatus(previous) if previous else None,
        adopted=None if adopted is None else bool(adopted),
    )


def ticket_draft_to_json(draft: TicketDraft) -> dict[str, Any]:
    return {
        "request_type": draft.request_type,
        "category": draft.category,
        "description": draft.description,
        "address": draft.address,
        "location": _location_to_json(draft.location),
        "occurred_at": draft.occurred_at,
        "phone": draft.phone,
        "photos": list(draft.photos),
        "anonymous": draft.anonymous,
        "urgent": draft.urgent,
        "district": draft.district,
    }


def ticket_draft_from_json(data: dict[str, Any]) -> TicketDraft:
    return TicketDraft(
        request_type=data["request_type"],
        category=data.get("category") or "其他",
        description=data.get("description") or "",
        address=data.get("address"),
        location=_location_from_json(data.get("location")),
        occurred_at=data.get("occurred_at"),
        phone=data.get("phone"),
        photos=tuple(data.get("photos") or ()),
        anonymous=bool(data.get("anonymous")),
        urgent=bool(data.get("urgent")),
        district=data.get("district"),
    )
