"""Photos, locations, channel events and message types we cannot read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.handling import Turn
from bot.types import EventKind, InboundKind, OutboundMessage
from handlers.formatting import mask_phone
from handlers.intake.form import MAX_PHOTOS
from handlers.parsing import parse_shared_phone

__all__ = [
    "ContactHandler",
    "LocationHandler",
    "PhotoHandler",
    "SilentEventHandler",
    "UnreadableHandler",
]



class PhotoHandler:
    """Keeps photos on the conversation so the next request can carry them."""

    name = "photo"

    def matches(self, turn: Turn) -> bool:
        return turn.message.kind is InboundKind.IMAGE

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        message = turn.message
        photos: list[dict[str, Any]] = list(turn.state.context.get("photos", []))
        if len(photos) >= MAX_PHOTOS:
            return [OutboundMessage.of_text(f"最多保留{MAX_PHOTOS}张照片，这张没有保存。")]
        photos.append({"media_id": message.media_id, "url": message.media_url})
        turn.state.context["photos"] = photos
        return [
            OutboundMessage.of_text(
                f"照片已收到（共{len(photos)}张）。请再用文字或语音说明一下发生了什么。"
            )
        ]


class LocationHandler:
    """A location the resident shared; an automatic LOCATION report is kept silently."""

    name = "location"

    def matches(self, turn: Turn) -> bool:
        return turn.message.location is not None

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        location = turn.message.location
        assert location is not None
        kept = {"latitude": location.latitude, "longitude": location.longitude,
                "label": location.label}
        if turn.message.kind is InboundKind.EVENT:
            # Where the phone is, reported automatically: not necessarily where
            # the problem is, so it never pre-fills a request's place.
            turn.state.context["reported_location"] = {**kept, "at": turn.now.isoformat()}
            return []
        turn.state.context["location"] = kept
        place = location.label or f"{location.latitude:.5f}, {location.longitude:.5f}"
        return [OutboundMessage.of_text(f"位置已记下：{place}。请说明在这里遇到了什么问题。")]


class ContactHandler:
    """A phone number shared with a tap outside a request: kept for the next one."""

    name = "contact"

    def matches(self, turn: Turn) -> bool:
        return turn.message.kind is InboundKind.CONTACT

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        phone = parse_shared_phone(turn.text)
        if phone is None:
            return [OutboundMessage.of_text(
                "这个号码好像不对。请分享11位手机号，或直接输入带区号的固定电话。"
            )]
        turn.state.context["phone"] = phone
        return [OutboundMessage.of_text(
            f"联系电话已记下：{mask_phone(phone)}。请说明您要反映或咨询的问题。"
        )]


class SilentEventHandler:
    """Events that need no answer (WeChat shows nothing after unsubscribe or a link click)."""

    name = "silent_event"

    def matches(self, turn: Turn) -> bool:
        return turn.message.kind is InboundKind.EVENT and turn.message.event in (
            EventKind.UNSUBSCRIBE,
            EventKind.VIEW,
            EventKind.UNKNOWN,
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        return []


class UnreadableHandler:
    """Video, links, unknown types, and voice we could not turn into text."""

    name = "unreadable"

    def matches(self, turn: Turn) -> bool:
        kind = turn.message.kind
        if kind is InboundKind.VOICE:
            return not turn.text
        return kind in (InboundKind.VIDEO, InboundKind.LINK, InboundKind.UNKNOWN)

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        if turn.message.kind is InboundKind.VOICE:
            text = "抱歉，这段语音没有识别出来。请再说一遍，或者改用文字描述。"
        else:
            text = "抱歉，暂时看不了这类消息。请用文字、语音、照片或位置告诉我们您的问题。"
        return [OutboundMessage.of_text(text)]
