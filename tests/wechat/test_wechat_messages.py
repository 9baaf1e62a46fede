"""The type registry: every message and event of domain.md §2."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import MalformedPayload
from bot.types import Channel, ConversationKey, EventKind, InboundKind, InboundMessage, Location
from integrations.wechat.messages import EVENT_TYPES, MESSAGE_TYPES, to_inbound
from integrations.wechat.xml import parse_xml

from . import samples as s

KEY = ConversationKey(Channel.WECHAT, s.ACCOUNT, s.USER)
AT = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def convert(body: str) -> InboundMessage:
    return to_inbound(parse_xml(body))


def test_registry_covers_documented_types() -> None:
    assert set(MESSAGE_TYPES) >= {
        "text",
        "image",
        "voice",
        "video",
        "shortvideo",
        "location",
        "link",
    }
    assert set(EVENT_TYPES) >= {"subscribe", "unsubscribe", "scan", "location", "click", "view"}


def test_text() -> None:
    m = convert(s.TEXT)
    assert m == InboundMessage(
        key=KEY,
        message_id="1000000001",
        kind=InboundKind.TEXT,
        received_at=AT,
        text="小区路灯坏了三天了",
        raw_type="text",
    )
    assert m.received_at.tzinfo is not None


def test_image() -> None:
    m = convert(s.IMAGE)
    assert (m.kind, m.media_id, m.media_url) == (
        InboundKind.IMAGE,
        "MEDIA_IMG",
        "http://mmbiz.qpic.cn/x.jpg",
    )
    assert m.message_id == "1000000002"


def test_voice_with_recognition() -> None:
    m = convert(s.VOICE)
    assert (m.kind, m.text, m.media_id, m.media_format) == (
        InboundKind.VOICE,
        "楼道漏水",
        "MEDIA_VOICE",
        "amr",
    )


@pytest.mark.parametrize("body", [s.VOICE_NO_RECOGNITION, s.VOICE_EMPTY_RECOGNITION])
def test_voice_without_recognition_keeps_the_media(body: str) -> None:
    m = convert(body)
    assert m.kind is InboundKind.VOICE
    assert m.text is None
    assert m.media_id == "MEDIA_VOICE"
    assert m.media_format in ("amr", "speex")


@pytest.mark.parametrize(("body", "raw"), [(s.VIDEO, "video"), (s.SHORTVIDEO, "shortvideo")])
def test_video_and_shortvideo(body: str, raw: str) -> None:
    m = convert(body)
    assert (m.kind, m.raw_type) == (InboundKind.VIDEO, raw)
    assert m.media_id and m.media_id.startswith("MEDIA_")


def test_location_message() -> None:
    m = convert(s.LOCATION)
    assert m.kind is InboundKind.LOCATION
    assert m.location == Location(23.134521, 113.358803, label="广州市天河区某街道", precision=20.0)
    assert m.message_id == "1000000008"


def test_link() -> None:
    m = convert(s.LINK)
    assert (m.kind, m.text, m.media_url) == (
        InboundKind.LINK,
        "停车难问题\n小区周边乱停车",
        "https://example.org/a",
    )


def test_subscribe_plain_and_with_scene() -> None:
    plain = convert(s.SUBSCRIBE)
    assert (plain.kind, plain.event, plain.event_key) == (
        InboundKind.EVENT,
        EventKind.SUBSCRIBE,
        None,
    )
    assert plain.message_id == f"{s.USER}:1714550400:subscribe"
    scene = convert(s.SUBSCRIBE_SCENE)
    assert (scene.event, scene.event_key) == (EventKind.SUBSCRIBE, "street42")


def test_unsubscribe() -> None:
    m = convert(s.UNSUBSCRIBE)
    assert (m.kind, m.event) == (InboundKind.EVENT, EventKind.UNSUBSCRIBE)


def test_scan_has_same_scene_as_qualified_subscribe() -> None:
    m = convert(s.SCAN)
    assert (m.event, m.event_key) == (EventKind.SCAN, "street42")
    assert m.message_id == f"{s.USER}:1714550400:SCAN"


def test_location_event() -> None:
    m = convert(s.LOCATION_EVENT)
    assert (m.kind, m.event) == (InboundKind.EVENT, EventKind.LOCATION)
    assert m.location == Location(23.137466, 113.352425, precision=119.38504)


def test_click_carries_the_payload() -> None:
    m = convert(s.CLICK)
    assert (m.kind, m.event, m.event_key, m.payload) == (
        InboundKind.EVENT,
        EventKind.CLICK,
        "MENU_REPORT",
        "MENU_REPORT",
    )
    assert m.message_id == f"{s.USER}:1714550400:CLICK:MENU_REPORT"


def test_view() -> None:
    m = convert(s.VIEW)
    assert (m.event, m.event_key, m.payload) == (EventKind.VIEW, "https://example.org/menu", None)


def test_events_in_the_same_second_have_distinct_ids() -> None:
    ids = {convert(b).message_id for b in (s.SUBSCRIBE, s.SCAN, s.CLICK, s.VIEW, s.LOCATION_EVENT)}
    assert len(ids) == 5
    other_click = s.xml("event", Event="CLICK", EventKey="MENU_HUMAN")
    assert convert(other_click).message_id != convert(s.CLICK).message_id


def test_redelivered_event_has_the_same_id() -> None:
    assert convert(s.CLICK).message_id == convert(s.CLICK).message_id


def test_unknown_message_type_is_explicit() -> None:
    m = convert(s.UNKNOWN_TYPE)
    assert (m.kind, m.raw_type, m.message_id) == (
        InboundKind.UNKNOWN,
        "miniprogrampage",
        "1000000010",
    )


def test_unknown_event_is_explicit() -> None:
    m = convert(s.UNKNOWN_EVENT)
    assert (m.kind, m.event, m.raw_type) == (
        InboundKind.UNKNOWN,
        EventKind.UNKNOWN,
        "event:TEMPLATESENDJOBFINISH",
    )


@pytest.mark.parametrize(
    "body",
    [
        "<xml><MsgType>text</MsgType><Content>x</Content></xml>",  # no users
        s.xml("text", MsgId="1"),  # text without Content
        s.xml("image", MsgId="1"),  # image without MediaId
        s.xml("voice", MsgId="1"),
        s.xml("event"),  # event without Event
        s.xml("event", Event="CLICK"),  # click without key
        s.xml("location", Location_X="north", Location_Y="1", MsgId="1"),
        s.xml("location", Location_X="nan", Location_Y="1", MsgId="1"),
        s.xml("event", Event="LOCATION", Latitude="1"),
        s.xml("text", create_time=0, Content="x").replace("<CreateTime>0", "<CreateTime>soon"),
    ],
)
def test_missing_or_bad_fields_are_malformed(body: str) -> None:
    with pytest.raises(MalformedPayload):
        convert(body)


def test_message_without_msgid_gets_a_stable_id() -> None:
    m = convert(s.xml("text", Content="x"))
    assert m.message_id == f"{s.USER}:1714550400:text"
