"""The simulator against the real WeChat adapter (webhook router + API client).

A contract test: what the simulator sends, ``integrations.wechat`` accepts,
and what that adapter's API client calls, the simulator's fake API serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI

from bot.errors import WindowClosed
from bot.ingest import Submission
from bot.types import Button, InboundKind, InboundMessage, OutboundMessage
from integrations.simulator import Simulator, SimulatorClient, SimulatorConfig
from integrations.simulator.router import build_simulator_router
from integrations.wechat import (
    DEFAULT_MENU,
    WeChatAPI,
    WeChatWebhookConfig,
    build_wechat_router,
    install_menu,
)

from .conftest import ACCOUNT, AES_KEY, APP_ID, APP_SECRET, BASE, TOKEN


class MemoryTokens:
    def __init__(self) -> None:
        self.value: tuple[str, datetime] | None = None

    async def get(self, name: str) -> tuple[str, datetime] | None:
        return self.value

    async def replace(
        self, name: str, token: str, expires_at: datetime, *, previous: str | None
    ) -> bool:
        if (self.value[0] if self.value else None) != previous:
            return False
        self.value = (token, expires_at)
        return True


class StubSubmitter:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> Submission:
        self.messages.append(message)
        if message.kind is InboundKind.EVENT:
            return Submission(reply=None)
        return Submission(
            reply=OutboundMessage.with_buttons(
                f"收到{message.kind.value}",
                (Button("我要反映", "report"), Button("我的诉求", "tickets")),
            )
        )


@dataclass
class Wired:
    sim: SimulatorClient
    api: WeChatAPI
    submitter: StubSubmitter
    http: httpx.AsyncClient


@pytest.fixture(params=[False, True], ids=["plain", "safe"])
async def wired(request: pytest.FixtureRequest) -> AsyncIterator[Wired]:
    safe: bool = request.param
    app = FastAPI()
    submitter = StubSubmitter()
    app.include_router(
        build_wechat_router(
            WeChatWebhookConfig(
                token=TOKEN,
                app_id=APP_ID,
                encoding_aes_key=AES_KEY if safe else None,
                account_id=ACCOUNT,
            ),
            submitter,
        )
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    sim = Simulator(
        SimulatorConfig(
            token=TOKEN,
            app_id=APP_ID,
            app_secret=APP_SECRET,
            account_id=ACCOUNT,
            webhook_url=f"{BASE}/wechat",
            encoding_aes_key=AES_KEY if safe else None,
            safe_mode=safe,
        ),
        http,
    )
    app.include_router(build_simulator_router(sim))
    api = WeChatAPI(
        http,
        base_url=f"{BASE}/simulator/wechat-api",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        tokens=MemoryTokens(),
    )
    yield Wired(SimulatorClient(sim), api, submitter, http)
    await http.aclose()


async def test_messages_reach_the_adapter(wired: Wired) -> None:
    reply = await wired.sim.send_text("zhang", "路灯坏了")
    assert reply is not None and reply.startswith("收到text\n1. 我要反映\n2. 我的诉求")
    assert wired.sim.last is not None and wired.sim.last.warnings == []
    await wired.sim.send_location("zhang", 30.27, 120.15, label="人民公园")
    await wired.sim.send_image("zhang")
    await wired.sim.send_voice("zhang", recognition="楼道灯不亮")
    assert await wired.sim.click("zhang", "MENU_REPORT") is None
    kinds = [m.kind for m in wired.submitter.messages]
    assert kinds == [
        InboundKind.TEXT,
        InboundKind.LOCATION,
        InboundKind.IMAGE,
        InboundKind.VOICE,
        InboundKind.EVENT,
    ]
    text, location, image, voice, click = wired.submitter.messages
    assert text.key.user == wired.sim.openid("zhang") and text.key.account == ACCOUNT
    assert location.location is not None and location.location.label == "人民公园"
    assert image.media_url is not None and image.media_url.startswith(f"{BASE}/simulator/media/")
    assert voice.text == "楼道灯不亮" and voice.media_format == "amr"
    assert click.payload == "MENU_REPORT" or click.event_key == "MENU_REPORT"

    # The adapter downloads the voice note from the fake API.
    assert voice.media_id is not None
    audio = await wired.api.download_media(voice.media_id)
    assert audio.startswith(b"#!AMR\n")


async def test_api_client_pushes_menu_and_window(wired: Wired) -> None:
    await install_menu(wired.api)
    state = (await wired.http.get("/simulator/api/state")).json()
    assert state["menu_installed"] is True and state["menu"] == dict(DEFAULT_MENU)

    openid = wired.sim.openid("li")
    await wired.sim.send_text("li", "你好")
    for i in range(5):
        await wired.api.send_custom(openid, OutboundMessage.of_text(f"推送{i}"))
    first = await wired.sim.wait_for_push("li", timeout=1)
    assert first.text == "推送0" and first.via == "custom"
    with pytest.raises(WindowClosed):
        await wired.api.send_custom(openid, OutboundMessage.of_text("第六条"))

    # Another process took a new token: the client refreshes once and goes on.
    wired.sim.sim.api.token("client_credential", APP_ID, APP_SECRET)
    await wired.api.send_template(openid, "TPL", {"first": {"value": "有新进展"}})
    assert wired.sim.pushes("li")[-1].via == "template"
