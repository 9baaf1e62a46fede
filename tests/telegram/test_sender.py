"""TelegramSender against the fake Bot API: keyboards, long text, photos, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram.error import Forbidden

from bot.errors import DeliveryError, PermanentDeliveryError
from bot.ports import ChannelSender
from bot.types import Button, Channel, ConversationKey, OutboundKind, OutboundMessage
from integrations.telegram import TelegramAPI, TelegramSender, keyboard_rows
from integrations.telegram.fake_bot_api import FakeBotAPI, FakeBotAPIServer
from tests.telegram.support import BOT_ID, TOKEN

Fake = tuple[FakeBotAPI, str]
KEY = ConversationKey(Channel.TELEGRAM, BOT_ID, "31337")


@pytest.fixture
async def sender(fake_bot_api: Fake) -> AsyncIterator[TelegramSender]:
    api = TelegramAPI(TOKEN, api_base=fake_bot_api[1])
    try:
        yield TelegramSender(api)
    finally:
        await api.close()


def test_it_is_a_channel_sender(sender: TelegramSender) -> None:
    assert isinstance(sender, ChannelSender) and sender.channel is Channel.TELEGRAM


async def test_text_and_an_inline_keyboard(sender: TelegramSender, fake_bot_api: Fake) -> None:
    fake, _ = fake_bot_api
    levels = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
    buttons = tuple(Button(t, f"RATE:MH202612050001:{5 - i}") for i, t in enumerate(levels))
    via = await sender.send(KEY, OutboundMessage.with_buttons("请您对办理结果进行评价：", buttons))
    assert via == "message"
    [call] = fake.sent("31337")
    assert call.text == "请您对办理结果进行评价："
    assert call.buttons() == [(b.title, b.payload) for b in buttons]
    rows = call.params["reply_markup"]["inline_keyboard"]
    assert [len(r) for r in rows] == [2, 2, 1]
    assert "parse_mode" not in call.params


def test_keyboard_rows_by_title_length() -> None:
    short = tuple(Button(t, t) for t in ("是", "否", "跳过", "不清楚"))
    assert [len(r) for r in keyboard_rows(short)] == [3, 1]
    long = (Button("MH202612050001", "x"), Button("MH202612050002", "y"))
    assert [len(r) for r in keyboard_rows(long)] == [1, 1]


async def test_a_payload_over_64_bytes_falls_back_to_numbered_options(
    sender: TelegramSender, fake_bot_api: Fake
) -> None:
    fake, _ = fake_bot_api
    message = OutboundMessage.with_buttons(
        "请选择：", (Button("第一项", "A" * 65), Button("第二项", "B"))
    )
    await sender.send(KEY, message)
    [call] = fake.sent("31337")
    assert call.buttons() == []
    assert "1. 第一项" in call.text and "2. 第二项" in call.text and "回复序号" in call.text


async def test_long_text_is_split_on_sentences_with_the_keyboard_last(
    sender: TelegramSender, fake_bot_api: Fake
) -> None:
    fake, _ = fake_bot_api
    text = "".join(f"第{n}条处理意见：请社区网格员上门核实情况并反馈。" for n in range(400))
    assert len(text) > 2 * 4096
    await sender.send(KEY, OutboundMessage.with_buttons(text, (Button("我的诉求", "/q"),)))
    calls = fake.sent("31337")
    assert len(calls) == 3
    assert all(len(c.text) <= 4096 for c in calls)
    assert all(c.text.endswith("。") for c in calls)
    assert "".join(c.text for c in calls) == text
    assert [bool(c.buttons()) for c in calls] == [False, False, True]


async def test_a_photo_with_its_caption(sender: TelegramSender, fake_bot_api: Fake) -> None:
    fake, _ = fake_bot_api
    photo = OutboundMessage(OutboundKind.IMAGE, text="现场照片",
                            image_url="https://example.org/p.jpg")
    assert await sender.send(KEY, photo) == "photo"
    [call] = fake.sent("31337")
    assert call.method == "sendPhoto"
    assert call.params["photo"] == "https://example.org/p.jpg" and call.text == "现场照片"


async def test_a_blocked_bot_is_a_permanent_failure_with_its_cause(
    sender: TelegramSender, fake_bot_api: Fake
) -> None:
    fake, _ = fake_bot_api
    fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(PermanentDeliveryError, match="blocked") as caught:
        await sender.send(KEY, OutboundMessage.of_text("您好"))
    assert isinstance(caught.value.__cause__.__cause__, Forbidden)  # type: ignore[union-attr]


async def test_a_bad_request_is_permanent(sender: TelegramSender, fake_bot_api: Fake) -> None:
    fake, _ = fake_bot_api
    fake.fail("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(PermanentDeliveryError, match=r"(?i)chat not found"):
        await sender.send(KEY, OutboundMessage.of_text("您好"))


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [(429, "Too Many Requests: retry after 7", 7), (500, "Internal Server Error", None),
     (502, "Bad Gateway", None)],
)
async def test_flood_control_and_server_errors_are_retried(
    sender: TelegramSender, fake_bot_api: Fake, status: int, description: str,
    retry_after: int | None,
) -> None:
    fake, _ = fake_bot_api
    fake.fail("sendMessage", status, description, retry_after=retry_after)
    with pytest.raises(DeliveryError) as caught:
        await sender.send(KEY, OutboundMessage.of_text("您好"))
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert caught.value.__cause__ is not None
    await sender.send(KEY, OutboundMessage.of_text("您好"))
    assert fake.sent_texts("31337") == ["您好"]


async def test_an_unreachable_bot_api_is_retried() -> None:
    fake = FakeBotAPI(token=TOKEN)
    server = FakeBotAPIServer(fake)
    base = server.start()
    server.stop()  # nothing listens there any more
    api = TelegramAPI(TOKEN, api_base=base, timeout=2.0)
    try:
        with pytest.raises(DeliveryError) as caught:
            await TelegramSender(api).send(KEY, OutboundMessage.of_text("您好"))
        assert not isinstance(caught.value, PermanentDeliveryError)
    finally:
        await api.close()


async def test_a_chat_of_another_bot_cannot_be_reached(
    sender: TelegramSender, fake_bot_api: Fake
) -> None:
    other = ConversationKey(Channel.TELEGRAM, "12345", "31337")
    with pytest.raises(PermanentDeliveryError):
        await sender.send(other, OutboundMessage.of_text("您好"))
    assert fake_bot_api[0].calls() == []


async def test_an_empty_message_is_not_sent(sender: TelegramSender, fake_bot_api: Fake) -> None:
    with pytest.raises(PermanentDeliveryError):
        await sender.send(KEY, OutboundMessage.of_text("  "))
    assert fake_bot_api[0].calls() == []
