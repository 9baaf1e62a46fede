"""Telegram's flood control (429 with ``retry_after``): the sender passes the
hint on, and the outbox does not try again sooner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import Backoff, DeliveryWorker
from bot.errors import DeliveryError, PermanentDeliveryError
from bot.types import Channel, ConversationKey, OutboundMessage
from integrations.storage import memory_storage
from integrations.telegram import TelegramAPI, TelegramSender
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.support import BOT_ID, TOKEN

Fake = tuple[FakeBotAPI, str]
KEY = ConversationKey(Channel.TELEGRAM, BOT_ID, "4242")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def sender(fake_bot_api: Fake) -> AsyncIterator[TelegramSender]:
    api = TelegramAPI(TOKEN, api_base=fake_bot_api[1])
    try:
        yield TelegramSender(api)
    finally:
        await api.close()


async def test_the_sender_passes_telegrams_retry_after_on(
    sender: TelegramSender, fake_bot_api: Fake,
) -> None:
    fake, _ = fake_bot_api
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 17", retry_after=17)
    with pytest.raises(DeliveryError) as caught:
        await sender.send(KEY, OutboundMessage.of_text("您好"))
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert caught.value.retry_after == 17

    # Other transient failures carry no hint.
    fake.fail("sendMessage", 502, "Bad Gateway")
    with pytest.raises(DeliveryError) as caught:
        await sender.send(KEY, OutboundMessage.of_text("您好"))
    assert caught.value.retry_after is None


async def test_the_outbox_waits_as_long_as_telegram_asks(
    sender: TelegramSender, fake_bot_api: Fake,
) -> None:
    fake, _ = fake_bot_api
    clock = Clock()
    storage = memory_storage(clock=clock)
    worker = DeliveryWorker(
        queue=storage.outbox, senders={Channel.TELEGRAM: sender}, clock=clock,
        owner="test", backoff=Backoff(first=timedelta(seconds=2), attempts=5),
    )
    await storage.outbox.enqueue(KEY, [OutboundMessage.of_text("您的诉求已登记。")])
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 9", retry_after=9)

    assert await worker.run_once() == 1  # refused: retry after 9 s
    clock.advance(2)  # the outbox's own backoff alone would try now
    assert await worker.run_once() == 0
    clock.advance(6.5)
    assert await worker.run_once() == 0
    assert [c.status for c in fake.calls("sendMessage")] == [429]
    clock.advance(0.5)
    assert await worker.run_once() == 1
    assert [c.status for c in fake.calls("sendMessage")] == [429, 200]
    assert fake.sent_texts("4242") == ["您的诉求已登记。"]
