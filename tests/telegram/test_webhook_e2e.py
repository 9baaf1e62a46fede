"""The Telegram webhook end to end: secrets, bad bodies, repeats, commands and media."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text as sql

from bot.types import Channel, ConversationKey
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.support import System
from tests.telegram.support import BOT_ID, SECRET_HEADER, TelegramResident, telegram_system

Fake = tuple[FakeBotAPI, str]


async def _count(system: System, table: str) -> int:
    engine = system.storage.engine
    assert engine is not None
    async with engine.connect() as conn:
        return int((await conn.execute(sql(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_a_wrong_or_missing_secret_is_refused_with_nothing_processed(
    tmp_path: Path, fake_bot_api: Fake
) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        anna = TelegramResident(system, fake, 9001)
        update = anna.message(text="小区门口路灯坏了")
        for secret in ("wrong-secret", "", None):
            response = await anna.post(update, secret=secret)
            assert response.status_code == 403 and response.text == "forbidden"
        # A secret that differs only in case is still wrong.
        assert (await anna.post(update, secret=SECRET_HEADER.upper())).status_code == 403
        await system.container.ingest.drain()
        assert await _count(system, "inbound_messages") == 0
        await anna.no_more_messages()
        assert fake.calls() == []


async def test_bad_bodies_are_refused(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base, telegram_max_body_bytes=2048) as system:
        headers = {SECRET_HEADER: system.settings.telegram_secret.get_secret_value()}
        http = system.http
        assert (await http.post("/telegram", content=b"{not json", headers=headers)
                ).status_code == 400
        assert (await http.post("/telegram", content=b"[1, 2]", headers=headers)
                ).status_code == 400
        assert (await http.post("/telegram", json={"message": {}}, headers=headers)
                ).status_code == 400
        assert (await http.post("/telegram", content=b"\xff\xfe", headers=headers)
                ).status_code == 400
        big = b'{"update_id": 1, "message": {"text": "' + b"x" * 4096 + b'"}}'
        assert (await http.post("/telegram", content=big, headers=headers)).status_code == 413
        assert (await http.get("/telegram", headers=headers)).status_code == 405
        assert await _count(system, "inbound_messages") == 0


async def test_the_channel_is_off_without_a_token(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base, telegram_token="") as system:
        response = await system.http.post("/telegram", json={"update_id": 1},
                                          headers={SECRET_HEADER: "x"})
        assert response.status_code == 404
        assert system.container.telegram is None
        assert "telegram" not in {c.value for c in system.container.senders}


async def test_a_repeated_update_is_processed_once(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        bo = TelegramResident(system, fake, 9002)
        update = bo.message(text="你好")
        for _ in range(3):
            await bo.send(update)
        replies = await bo.replies()
        assert len(replies) == 1 and "民呼" in replies[0]
        await bo.no_more_messages()
        assert await _count(system, "inbound_messages") == 1


async def test_start_help_status_and_cancel(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        chen = TelegramResident(system, fake, 9003)
        [welcome] = await chen.say("/start")
        assert "您好，这里是民呼服务平台" in welcome
        assert [t for t, _ in chen.last_keyboard().buttons()] == ["我要反映", "我的诉求", "转人工"]

        [helped] = await chen.say("/help")
        assert "路灯坏了" in helped and "110" in helped

        [status] = await chen.say("/status@minhu_test_bot")
        assert "还没有已登记的诉求" in status

        [asked] = await chen.say("我要投诉")
        assert "投诉" in asked
        [cancelled] = await chen.say("/cancel")
        assert "已取消" in cancelled
        [nothing] = await chen.say("/cancel")
        assert "没有正在办理的事项" in nothing

        # A command we do not have is read as text, and help is offered.
        [unknown] = await chen.say("/weather")
        assert "您可以直接用文字或语音告诉我" in unknown


async def test_voice_photo_location_and_contact(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        dai = TelegramResident(system, fake, 9004)
        voice = {"file_id": "VOICE-1", "file_unique_id": "v1", "duration": 3,
                 "mime_type": "audio/ogg"}
        await dai.send(dai.message(voice=voice))
        [polite] = await dai.replies()
        # No file behind VOICE-1 on the fake Bot API: a clear reply, not a crash.
        assert "这段语音" in polite and "文字" in polite

        photo = [
            {"file_id": "SMALL", "file_unique_id": "p1", "width": 90, "height": 60},
            {"file_id": "LARGE", "file_unique_id": "p3", "width": 1280, "height": 960},
            {"file_id": "MEDIUM", "file_unique_id": "p2", "width": 320, "height": 240},
        ]
        await dai.send(dai.message(photo=photo))
        [kept] = await dai.replies()
        assert "照片已收到（共1张）" in kept

        location = {"latitude": 39.9087, "longitude": 116.3975}
        await dai.send(dai.message(location=location))
        [placed] = await dai.replies()
        assert "位置已记下：39.90870, 116.39750" in placed

        contact = {"phone_number": "+86 139 1234 5678", "first_name": "戴", "user_id": 9004}
        await dai.send(dai.message(contact=contact))
        [phone] = await dai.replies()
        assert "联系电话已记下：139****5678" in phone

        # All three belong to the request that follows: only the time is asked.
        [when] = await dai.say("这里的井盖松动了，车压过去哐哐响，很危险")
        assert "什么时候" in when
        [summary] = await dai.press("不清楚")
        assert "139****5678" in summary and "1张" in summary, summary
        assert dai.last_keyboard().buttons()[0][0] == "确认提交"
        key = ConversationKey(Channel.TELEGRAM, BOT_ID, "9004")
        state = await system.storage.conversations.load(key)
        assert state.slots.get("photos") == ["LARGE"]
        assert state.slots.get("location", {}).get("latitude") == 39.9087
        assert state.slots.get("phone") == "13912345678"
