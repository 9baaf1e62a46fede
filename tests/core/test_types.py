from __future__ import annotations

from bot.handling import intent_button
from bot.types import Channel, ConversationKey, OutboundMessage


def test_buttons_have_a_numbered_plain_text_fallback() -> None:
    message = OutboundMessage.with_buttons(
        "请确认", (intent_button("确认提交", "affirm"), intent_button("修改", "deny"))
    )
    text = message.plain_text()
    assert text.startswith("请确认\n1. 确认提交\n2. 修改")


def test_conversation_key_round_trips_through_its_string_form() -> None:
    key = ConversationKey(Channel.TELEGRAM, "bot42", "user:with:colons")
    assert ConversationKey.parse(key.as_str()) == key
