"""From WeChat's flat XML fields to the core ``InboundMessage``.

A registry maps each ``MsgType`` (and, for ``MsgType=event``, each
``Event``) to a converter. Anything not registered becomes an explicit
``InboundKind.UNKNOWN`` message that keeps its raw type, so a new WeChat
message type never crashes the webhook. Add a type with::

    @message_type("newtype")
    def _newtype(fields: Fields, common: Common) -> InboundMessage: ...

Delivery identity (domain.md §2): ``MsgId`` for messages; events have none,
so theirs is ``FromUserName:CreateTime:Event`` (the event name separates a
subscribe and a scan in the same second), plus the ``EventKey`` for CLICK
(two different menu items tapped within one second are two actions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.errors import MalformedPayload
from bot.types import (
    Channel,
    ConversationKey,
    EventKind,
    InboundKind,
    InboundMessage,
    Location,
)

__all__ = [
    "EVENT_TYPES",
    "MESSAGE_TYPES",
    "SCENE_PREFIX",
    "Common",
    "event_type",
    "message_type",
    "to_inbound",
]

Fields = Mapping[str, str]

# A subscribe through a parametric QR code carries EventKey "qrscene_<scene>";
# a SCAN by an existing follower carries "<scene>" alone.
SCENE_PREFIX = "qrscene_"


@dataclass(frozen=True, slots=True)
class Common:
    """Fields every WeChat message and event carries."""

    key: ConversationKey
    received_at: datetime
    create_time: str
    msg_type: str


Converter = Callable[[Fields, Common], InboundMessage]

MESSAGE_TYPES: dict[str, Converter] = {}
EVENT_TYPES: dict[str, Converter] = {}


def message_type(*names: str) -> Callable[[Converter], Converter]:
    """Register a converter for these ``MsgType`` values (case-insensitive)."""

    def register(fn: Converter) -> Converter:
        for name in names:
            MESSAGE_TYPES[name.lower()] = fn
        return fn

    return register


def event_type(*names: str) -> Callable[[Converter], Converter]:
    """Register a converter for these ``Event`` values (case-insensitive)."""

    def register(fn: Converter) -> Converter:
        for name in names:
            EVENT_TYPES[name.lower()] = fn
        return fn

    return register


def to_inbound(fields: Fields) -> InboundMessage:
    """Convert parsed WeChat XML fields; ``MalformedPayload`` when required ones lack."""
    common = _common(fields)
    if common.msg_type.lower() == "event":
        event = _required(fields, "Event")
        converter = EVENT_TYPES.get(event.lower(), _unknown_event)
    else:
        converter = MESSAGE_TYPES.get(common.msg_type.lower(), _unknown_message)
    return converter(fields, common)


# -- helpers ----------------------------------------------------------------


def _required(fields: Fields, name: str) -> str:
    value = fields.get(name)
    if value is None or not value.strip():
        raise MalformedPayload(f"WeChat message without {name}")
    return value.strip()


def _optional(fields: Fields, name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _float(fields: Fields, name: str) -> float:
    return _parse_float(name, _required(fields, name))


def _optional_float(fields: Fields, name: str) -> float | None:
    raw = _optional(fields, name)
    return None if raw is None else _parse_float(name, raw)


def _parse_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise MalformedPayload(f"WeChat field {name} is not a number") from exc
    if not math.isfinite(value):
        raise MalformedPayload(f"WeChat field {name} is not a finite number")
    return value


def _common(fields: Fields) -> Common:
    account = _required(fields, "ToUserName")
    user = _required(fields, "FromUserName")
    create_time = _required(fields, "CreateTime")
    msg_type = _required(fields, "MsgType")
    try:
        seconds = int(create_time)
        received_at = datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedPayload("WeChat CreateTime is not a Unix time") from exc
    return Common(
        key=ConversationKey(Channel.WECHAT, account=account, user=user),
        received_at=received_at,
        create_time=str(seconds),
        msg_type=msg_type,
    )


def _message_id(fields: Fields, common: Common) -> str:
    msg_id = _optional(fields, "MsgId")
    if msg_id is not None:
        return msg_id
    # Some message types may come without MsgId; fall back to the event rule.
    return f"{common.key.user}:{common.create_time}:{common.msg_type}"


def _event_id(common: Common, event: str, extra: str | None = None) -> str:
    base = f"{common.key.user}:{common.create_time}:{event}"
    return f"{base}:{extra}" if extra else base


def _message(fields: Fields, common: Common, kind: InboundKind, **extra: Any) -> InboundMessage:
    """A message with the common fields and the converter's ``extra`` ones."""
    return InboundMessage(
        key=common.key,
        message_id=_message_id(fields, common),
        kind=kind,
        received_at=common.received_at,
        raw_type=common.msg_type,
        **extra,
    )


def _event(
    fields: Fields,
    common: Common,
    kind: EventKind,
    *,
    inbound_kind: InboundKind = InboundKind.EVENT,
    id_extra: str | None = None,
    **extra: Any,
) -> InboundMessage:
    """An event with the common fields and the converter's ``extra`` ones."""
    event = _required(fields, "Event")
    return InboundMessage(
        key=common.key,
        message_id=_event_id(common, event, id_extra),
        kind=inbound_kind,
        received_at=common.received_at,
        event=kind,
        raw_type=f"event:{event}",
        **extra,
    )


# -- messages ---------------------------------------------------------------


@message_type("text")
def _text(fields: Fields, common: Common) -> InboundMessage:
    content = fields.get("Content")
    if content is None:
        raise MalformedPayload("WeChat text message without Content")
    return _message(fields, common, InboundKind.TEXT, text=content)


@message_type("image")
def _image(fields: Fields, common: Common) -> InboundMessage:
    return _message(
        fields,
        common,
        InboundKind.IMAGE,
        media_id=_required(fields, "MediaId"),
        media_url=_optional(fields, "PicUrl"),
    )


@message_type("voice")
def _voice(fields: Fields, common: Common) -> InboundMessage:
    # WeChat's own recognition is going away (domain.md §2): text may be None,
    # and the media id is then what a transcriber works from.
    fmt = _optional(fields, "Format")
    return _message(
        fields,
        common,
        InboundKind.VOICE,
        text=_optional(fields, "Recognition"),
        media_id=_required(fields, "MediaId"),
        media_format=fmt.lower() if fmt else None,
    )


@message_type("video", "shortvideo")
def _video(fields: Fields, common: Common) -> InboundMessage:
    return _message(fields, common, InboundKind.VIDEO, media_id=_required(fields, "MediaId"))


@message_type("location")
def _location(fields: Fields, common: Common) -> InboundMessage:
    location = Location(
        latitude=_float(fields, "Location_X"),
        longitude=_float(fields, "Location_Y"),
        label=_optional(fields, "Label"),
        precision=_optional_float(fields, "Scale"),
    )
    return _message(
        fields, common, InboundKind.LOCATION, location=location, text=location.label
    )


@message_type("link")
def _link(fields: Fields, common: Common) -> InboundMessage:
    parts = [p for p in (_optional(fields, "Title"), _optional(fields, "Description")) if p]
    return _message(
        fields,
        common,
        InboundKind.LINK,
        text="\n".join(parts) or None,
        media_url=_optional(fields, "Url"),
    )


def _unknown_message(fields: Fields, common: Common) -> InboundMessage:
    return _message(fields, common, InboundKind.UNKNOWN)


# -- events -----------------------------------------------------------------


@event_type("subscribe")
def _subscribe(fields: Fields, common: Common) -> InboundMessage:
    key = _optional(fields, "EventKey")
    scene = key[len(SCENE_PREFIX) :] if key and key.startswith(SCENE_PREFIX) else key
    return _event(fields, common, EventKind.SUBSCRIBE, event_key=scene or None)


@event_type("unsubscribe")
def _unsubscribe(fields: Fields, common: Common) -> InboundMessage:
    return _event(fields, common, EventKind.UNSUBSCRIBE)


@event_type("SCAN")
def _scan(fields: Fields, common: Common) -> InboundMessage:
    return _event(fields, common, EventKind.SCAN, event_key=_optional(fields, "EventKey"))


@event_type("LOCATION")
def _location_event(fields: Fields, common: Common) -> InboundMessage:
    location = Location(
        latitude=_float(fields, "Latitude"),
        longitude=_float(fields, "Longitude"),
        precision=_optional_float(fields, "Precision"),
    )
    return _event(fields, common, EventKind.LOCATION, location=location)


@event_type("CLICK")
def _click(fields: Fields, common: Common) -> InboundMessage:
    key = _required(fields, "EventKey")
    return _event(fields, common, EventKind.CLICK, id_extra=key, event_key=key, payload=key)


@event_type("VIEW")
def _view(fields: Fields, common: Common) -> InboundMessage:
    return _event(fields, common, EventKind.VIEW, event_key=_optional(fields, "EventKey"))


def _unknown_event(fields: Fields, common: Common) -> InboundMessage:
    # Not a resident's action we know (e.g. TEMPLATESENDJOBFINISH): UNKNOWN,
    # so nothing treats it as opening a conversation.
    return _event(
        fields,
        common,
        EventKind.UNKNOWN,
        inbound_kind=InboundKind.UNKNOWN,
        event_key=_optional(fields, "EventKey"),
    )
