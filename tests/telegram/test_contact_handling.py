"""A shared phone number (``InboundKind.CONTACT``) in the channel-neutral dialogue.

Telegram is the first channel that sends one; the handlers treat it as the
contact phone wherever they ask for one.
"""

from __future__ import annotations

import pytest

from bot.types import InboundKind, OutboundMessage
from handlers.parsing import parse_shared_phone
from integrations.storage.codec import inbound_from_json, inbound_to_json
from tests.handlers.harness import Conversation, conversation, reading, scripted

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


def titles(message: OutboundMessage) -> list[str]:
    return [b.title for b in message.buttons]


def payload_of(message: OutboundMessage, title: str) -> str:
    return next(b.payload for b in message.buttons if b.title == title)


async def share(chat: Conversation, phone: str) -> OutboundMessage:
    return await chat.send(chat.message(InboundKind.CONTACT, text=phone))


@pytest.mark.parametrize(("shared", "phone"), [
    ("+86 138 1234 5678", "13812345678"),
    ("8613812345678", "13812345678"),
    ("008613812345678", "13812345678"),
    ("13812345678", "13812345678"),
    ("+86 10 1234 5678", "01012345678"),
    ("010-12345678", "010-12345678"),
    ("+1 555 123 4567", None),
    ("12345", None),
])
def test_shared_numbers_are_read_as_mainland_phones(shared: str, phone: str | None) -> None:
    assert parse_shared_phone(shared) == phone


async def test_a_number_shared_when_asked_for_a_phone_answers_the_question() -> None:
    chat = conversation(scripted({LAMP: reading("complain", "城乡建设")}))
    first = await chat.say(LAMP)
    assert "联系电话" in first.text
    photos = await share(chat, "+8613812345678")
    assert "照片" in photos.text
    summary = await chat.press(payload_of(photos, "没有照片"), "没有照片")
    assert "联系电话：138****5678" in summary.text
    assert (await chat.state()).slots["phone"] == "13812345678"


async def test_a_number_shared_at_the_summary_changes_the_phone() -> None:
    chat = conversation(scripted({LAMP: reading("complain", "城乡建设")}))
    first = await chat.say(LAMP)
    photos = await chat.press(payload_of(first, "不留电话"), "不留电话")
    summary = await chat.press(payload_of(photos, "没有照片"), "没有照片")
    assert "联系电话：未留" in summary.text
    changed = await share(chat, "13912345678")
    assert changed.text.startswith("已修改联系电话。") and "139****5678" in changed.text
    assert titles(changed)[0] == "确认提交"


async def test_a_foreign_number_is_refused_kindly() -> None:
    chat = conversation(scripted({LAMP: reading("complain", "城乡建设")}))
    await chat.say(LAMP)
    again = await share(chat, "+1 555 123 4567")
    assert "号码好像不对" in again.text and "联系电话" in again.text
    assert not (await chat.state()).slots.get("phone")


async def test_a_number_shared_before_a_request_is_used_by_it() -> None:
    chat = conversation(scripted({LAMP: reading("complain", "城乡建设")}))
    kept = await share(chat, "+86 139 1234 5678")
    assert "联系电话已记下：139****5678" in kept.text
    first = await chat.say(LAMP)
    # The phone is known: straight to the photos.
    assert "照片" in first.text and "联系电话" not in first.text
    assert (await chat.state()).slots["phone"] == "13912345678"


def test_the_journal_keeps_a_contact_message() -> None:
    chat = conversation(scripted({}))
    message = chat.message(InboundKind.CONTACT, text="+8613812345678")
    assert inbound_from_json(inbound_to_json(message)) == message
