"""The update registry: what each Bot API update becomes in the core."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import MalformedPayload
from bot.types import Channel, ConversationKey, EventKind, InboundKind
from integrations.telegram import parse_update
from integrations.telegram.updates import bot_id_of

BOT = "7000000001"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _message(update_id: int = 10, chat_type: str = "private", **content: Any) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": 5, "date": 1_765_000_000,
        "from": {"id": 77, "is_bot": False, "first_name": "Li"},
        "chat": {"id": 77 if chat_type == "private" else -100, "type": chat_type},
        **content,
    }}


def _parse(update: Any) -> Any:
    return parse_update(update, bot_id=BOT, clock=lambda: NOW)


def test_text_keys_the_conversation_by_bot_and_chat_and_dedups_on_update_id() -> None:
    parsed = _parse(_message(update_id=4242, text="路灯坏了"))
    [message] = parsed.messages
    assert message.key == ConversationKey(Channel.TELEGRAM, BOT, "77")
    assert message.message_id == "4242"
    assert message.kind is InboundKind.TEXT and message.text == "路灯坏了"
    assert message.payload is None
    assert message.received_at == datetime.fromtimestamp(1_765_000_000, UTC)


def test_start_is_a_subscribe_with_the_deep_link_as_scene() -> None:
    [plain] = _parse(_message(text="/start")).messages
    assert plain.kind is InboundKind.EVENT and plain.event is EventKind.SUBSCRIBE
    assert plain.event_key is None
    [linked] = _parse(_message(text="/start poster_dongcheng")).messages
    assert linked.event is EventKind.SUBSCRIBE and linked.event_key == "poster_dongcheng"


@pytest.mark.parametrize(("text", "payload"), [
    ("/status", "MENU_MY_TICKETS"),
    ("/help", "/greet"),
    ("/cancel", "/cancel"),
    ("/CANCEL@minhu_bot", "/cancel"),
])
def test_commands_become_the_payloads_the_menu_and_buttons_send(text: str, payload: str) -> None:
    [message] = _parse(_message(text=text)).messages
    assert message.kind is InboundKind.TEXT and message.payload == payload


def test_an_unknown_command_stays_text() -> None:
    [message] = _parse(_message(text="/weather today")).messages
    assert message.payload is None and message.text == "/weather today"


def test_voice_is_ogg_without_a_transcript() -> None:
    voice = {"file_id": "AwAD-voice", "file_unique_id": "u", "duration": 4}
    [message] = _parse(_message(voice=voice)).messages
    assert message.kind is InboundKind.VOICE and message.text is None
    assert message.media_id == "AwAD-voice" and message.media_format == "ogg"


def test_the_largest_photo_is_kept_and_its_caption_follows_as_text() -> None:
    sizes = [
        {"file_id": "s", "file_unique_id": "1", "width": 90, "height": 90},
        {"file_id": "l", "file_unique_id": "3", "width": 1280, "height": 1280},
        {"file_id": "m", "file_unique_id": "2", "width": 320, "height": 320},
    ]
    photo, caption = _parse(_message(update_id=9, photo=sizes, caption="井盖松了")).messages
    assert photo.kind is InboundKind.IMAGE and photo.media_id == "l"
    assert caption.kind is InboundKind.TEXT and caption.text == "井盖松了"
    assert (photo.message_id, caption.message_id) == ("9", "9:caption")


def test_an_image_sent_as_a_file_is_a_photo() -> None:
    document = {"file_id": "doc", "file_unique_id": "d", "mime_type": "image/jpeg"}
    [message] = _parse(_message(document=document)).messages
    assert message.kind is InboundKind.IMAGE and message.media_id == "doc"
    pdf = {"file_id": "pdf", "file_unique_id": "p", "mime_type": "application/pdf"}
    [other] = _parse(_message(document=pdf)).messages
    assert other.kind is InboundKind.UNKNOWN


def test_location_and_venue() -> None:
    point = {"latitude": 39.9, "longitude": 116.4, "horizontal_accuracy": 25}
    [message] = _parse(_message(location=point)).messages
    assert message.kind is InboundKind.LOCATION and message.location is not None
    assert (message.location.latitude, message.location.longitude) == (39.9, 116.4)
    assert message.location.precision == 25 and message.location.label is None
    venue = {"location": point, "title": "幸福里小区", "address": "和平路12号"}
    [place] = _parse(_message(venue=venue, location=point)).messages
    assert place.location is not None and place.location.label == "幸福里小区 和平路12号"


def test_contact_carries_the_phone_number() -> None:
    contact = {"phone_number": "+8613812345678", "first_name": "Li", "user_id": 77}
    [message] = _parse(_message(contact=contact)).messages
    assert message.kind is InboundKind.CONTACT and message.text == "+8613812345678"


def test_content_we_cannot_read_is_an_explicit_unknown() -> None:
    sticker = {"file_id": "st", "file_unique_id": "s", "type": "regular", "width": 1,
               "height": 1, "is_animated": False, "is_video": False}
    [message] = _parse(_message(sticker=sticker)).messages
    assert message.kind is InboundKind.UNKNOWN and message.raw_type == "message:sticker"


def test_a_button_press_is_its_payload_with_the_title_as_text() -> None:
    keyboard = {"inline_keyboard": [[{"text": "满意", "callback_data": "RATE:MH1:4"}]]}
    update = {"update_id": 11, "callback_query": {
        "id": "cb-1", "from": {"id": 77, "is_bot": False, "first_name": "Li"},
        "chat_instance": "x", "data": "RATE:MH1:4",
        "message": {"message_id": 3, "date": 1_700_000_000,
                    "chat": {"id": 77, "type": "private"}, "text": "请评价",
                    "reply_markup": keyboard},
    }}
    parsed = _parse(update)
    assert parsed.callback_query_id == "cb-1"
    [message] = parsed.messages
    assert message.payload == "RATE:MH1:4" and message.text == "满意"
    assert message.key.user == "77" and message.message_id == "11"
    # The press is dated now, not when the message with the keyboard was sent.
    assert message.received_at == NOW


def test_a_press_without_data_is_answered_but_not_submitted() -> None:
    update = {"update_id": 12, "callback_query": {
        "id": "cb-2", "from": {"id": 77, "is_bot": False, "first_name": "Li"},
        "chat_instance": "x", "game_short_name": "g"}}
    parsed = _parse(update)
    assert parsed.messages == () and parsed.callback_query_id == "cb-2" and parsed.ignored


@pytest.mark.parametrize("update", [
    {"update_id": 13, "edited_message": {"message_id": 1}},
    {"update_id": 14, "my_chat_member": {"chat": {"id": 1}}},
    {"update_id": 15},
    _message(update_id=16, chat_type="group", text="大家好"),
])
def test_other_updates_and_group_chats_are_acknowledged_and_ignored(update: Any) -> None:
    parsed = _parse(update)
    assert parsed.messages == () and parsed.ignored


@pytest.mark.parametrize("update", [
    [], "x", {"message": {}}, {"update_id": "1", "message": {}}, {"update_id": -1},
    {"update_id": 1, "message": "text"},
    {"update_id": 1, "message": {"date": 1, "text": "no chat"}},
    {"update_id": 1, "message": {"date": 1, "chat": {"id": 1, "type": "private"},
                                 "location": {"latitude": 91, "longitude": 0}}},
    {"update_id": 1, "message": {"date": 1, "chat": {"id": 1, "type": "private"},
                                 "photo": []}},
    {"update_id": 1, "callback_query": {"from": {"id": 1}, "data": "x"}},
])
def test_what_is_not_an_update_is_malformed(update: Any) -> None:
    with pytest.raises(MalformedPayload):
        _parse(update)


def test_bot_id_of_a_token() -> None:
    assert bot_id_of("123456:ABC-def") == "123456"
    with pytest.raises(ValueError):
        bot_id_of("not-a-token")
