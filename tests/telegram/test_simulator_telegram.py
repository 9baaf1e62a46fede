"""The simulator's Telegram mode: the page posts real updates to /telegram and
shows what the bot sent to the fake Bot API."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from integrations.simulator.telegram import FIRST_CHAT_ID, TelegramSimulator
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.support import System
from tests.telegram.support import TOKEN, telegram_system

Fake = tuple[FakeBotAPI, str]


async def _transcript(system: System, count: int) -> list[dict[str, Any]]:
    for _ in range(300):
        response = await system.http.get("/simulator/telegram/api/transcript",
                                          params={"chat": FIRST_CHAT_ID})
        entries: list[dict[str, Any]] = response.json()["entries"]
        if len([e for e in entries if e["from"] == "bot"]) >= count:
            return entries
        await asyncio.sleep(0.03)
    raise AssertionError(f"the bot sent fewer than {count} messages")


async def test_the_simulator_plays_telegram(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        sim: TelegramSimulator = system.app.state.telegram_simulator
        # The bot's PTB client reaches this fake on loopback (its own one is
        # mounted at /simulator/telegram-api for `make run`).
        sim.fake = fake
        page = await system.http.get("/simulator/telegram")
        assert page.status_code == 200 and "Telegram 模拟器" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        script = await system.http.get("/simulator/telegram/static/telegram_page.js")
        assert script.status_code == 200 and "textContent" in script.text
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in script.text
        for text in (page.text, script.text):
            hosts = {m.group(1) for m in re.finditer(r"(?:https?:)?//([A-Za-z0-9.\-]+)", text)}
            assert hosts <= {"127.0.0.1", "localhost"}, hosts
        me = await system.http.post(f"/simulator/telegram-api/bot{TOKEN}/getMe")
        assert me.json()["result"]["username"] == "minhu_test_bot"
        state = (await system.http.get("/simulator/telegram/api/state")).json()
        assert state["commands"] == ["/start", "/status", "/help", "/cancel"]

        sent = await system.http.post("/simulator/telegram/api/send",
                                      json={"chat": FIRST_CHAT_ID, "text": "/start"})
        assert sent.json() == {"status": 200}
        entries = await _transcript(system, 1)
        assert entries[0]["from"] == "resident" and entries[0]["text"] == "/start"
        welcome = entries[-1]
        assert "民呼服务平台" in welcome["text"]
        assert [b[0] for b in welcome["buttons"]] == ["我要反映", "我的诉求", "转人工"]

        data = welcome["buttons"][1][1]
        pressed = await system.http.post("/simulator/telegram/api/press", json={
            "chat": FIRST_CHAT_ID, "message_id": welcome["message_id"], "data": data})
        assert pressed.json() == {"status": 200}
        entries = await _transcript(system, 2)
        assert "还没有已登记的诉求" in entries[-1]["text"]
        assert any(e["text"] == "[按钮] 我的诉求" for e in entries)

        for kind in ("photo", "voice", "location", "contact"):
            response = await system.http.post("/simulator/telegram/api/send",
                                              json={"chat": FIRST_CHAT_ID, "kind": kind})
            assert response.json() == {"status": 200}
        entries = await _transcript(system, 6)
        texts = [e["text"] for e in entries if e["from"] == "bot"]
        assert any("照片已收到" in t for t in texts)
        assert any("这段语音" in t for t in texts)  # no audio behind the file id

        # A button that was never shown, or someone else's chat, is refused.
        forged = await system.http.post("/simulator/telegram/api/press", json={
            "chat": FIRST_CHAT_ID, "message_id": welcome["message_id"], "data": "RATE:X:5"})
        assert forged.status_code == 404
        stranger = await system.http.post("/simulator/telegram/api/send",
                                           json={"chat": 1, "text": "hi"})
        assert stranger.status_code == 404


async def test_no_telegram_simulator_without_a_token(tmp_path: Path, fake_bot_api: Fake) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base, telegram_token="") as system:
        assert (await system.http.get("/simulator/telegram")).status_code == 404
        assert (await system.http.get("/simulator/telegram-api/botx/getMe")).status_code == 404
