"""Pushes through the outbox to the fake Bot API, and long polling."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text as sql

from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.support import System
from tests.telegram.support import BOT_ID, TelegramResident, next_update_id, telegram_system

Fake = tuple[FakeBotAPI, str]


async def _deliveries(system: System, chat_id: int) -> list[tuple[str, int, str | None]]:
    engine = system.storage.engine
    assert engine is not None
    async with engine.connect() as conn:
        rows = await conn.execute(
            sql("SELECT status, attempts, last_error FROM deliveries "
                "WHERE conversation_key = :key ORDER BY id"),
            {"key": f"telegram:{BOT_ID}:{chat_id}"},
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def _settled(
    system: System, chat_id: int, *, within: float = 15.0
) -> list[tuple[str, int, str | None]]:
    """The chat's deliveries once none is pending: the Bot API can answer a
    send before the worker has recorded it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await _deliveries(system, chat_id)
        if all(status != "pending" for status, _, _ in rows):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_a_blocked_bot_gives_up_at_once(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        gao = TelegramResident(system, fake, 8001)
        fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", times=5)
        await gao.send(gao.message(text="你好"))
        for _ in range(200):
            rows = await _deliveries(system, 8001)
            if rows and rows[0][0] == "dead":
                break
            await asyncio.sleep(0.02)
        [(status, attempts, error)] = await _deliveries(system, 8001)
        assert status == "dead" and attempts == 1 and "blocked" in (error or "")
        assert len(fake.calls("sendMessage", chat_id=8001)) == 1
        assert fake.sent(8001) == []


async def test_flood_control_and_server_errors_are_retried_until_delivered(
    tmp_path: Path, fake_bot_api: Fake
) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        he = TelegramResident(system, fake, 8002)
        hu = TelegramResident(system, fake, 8012)
        # The first two sends fail, one way each.
        fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        fake.fail("sendMessage", 502, "Bad Gateway")
        await he.send(he.message(text="你好"))
        await hu.send(hu.message(text="你好"))
        [welcome] = await he.replies(within=15)
        [welcome_too] = await hu.replies(within=15)
        assert "民呼" in welcome and welcome == welcome_too
        statuses = sorted(
            tuple(c.status for c in fake.calls("sendMessage", chat_id=chat))
            for chat in (8002, 8012)
        )
        assert statuses == [(429, 200), (502, 200)]
        for chat in (8002, 8012):
            [(status, tries, _)] = await _settled(system, chat)
            assert status == "sent" and tries == 2


async def test_long_polling_feeds_the_same_path_once_per_update(
    tmp_path: Path, fake_bot_api: Fake
) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        telegram = system.container.telegram
        assert telegram is not None
        # A webhook left over from a deployment: getUpdates would be refused.
        fake.webhook = {"url": "https://minhu.example.org/telegram"}
        stop = asyncio.Event()
        poller = telegram.poller(wait=1)
        task = asyncio.create_task(poller.run(stop))
        try:
            jin = TelegramResident(system, fake, 8003)
            start = fake.push_update(jin.message(text="/start"))
            [welcome] = await jin.replies()
            assert "您好，这里是民呼服务平台" in welcome
            methods = [c.method for c in fake.calls()]
            assert methods.index("deleteWebhook") < methods.index("getUpdates")

            # Telegram sends it again (e.g. the webhook got it first): processed once.
            await jin.send(jin.message(text="/help"))
            [helped] = await jin.replies()
            fake.push_update(dict(start))
            [status] = await jin.say("/status")
            assert "还没有已登记的诉求" in status and "路灯坏了" in helped

            await jin.press("我要反映")
            pressed = fake.push_update({"update_id": next_update_id(), "callback_query": {
                "id": "cb-poll", "from": {"id": 8003, "is_bot": False, "first_name": "金"},
                "chat_instance": "ci", "data": "/query_status",
                "message": fake.sent_message(jin.chat()[-1].message_id or 0),
            }})
            [again] = await jin.replies()
            assert "还没有已登记的诉求" in again
            await fake.wait_for(lambda calls: any(
                c.method == "answerCallbackQuery"
                and c.params.get("callback_query_id") == "cb-poll" for c in calls))
            assert poller.offset == pressed["update_id"] + 1
            await jin.no_more_messages()
        finally:
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
