"""A small fake ``/wechat`` endpoint and a simulator wired to it over ASGI.

The fake endpoint checks every request the way WeChat's rules demand (plain
signature, and in safe mode ``msg_signature`` + decryption with the WeChat
helper's crypto) and answers according to the text it received:

    "boom"      -> HTTP 500
    "slow"      -> sleeps past the simulator's reply timeout
    "quiet"     -> "success"
    "push me"   -> "success", then pushes "推送：你好" through the fake API
    "badsig"    -> (safe mode) an envelope with a wrong MsgSignature
    "plain"     -> (safe mode) a plaintext reply
    "image"     -> a passive image reply
    anything else -> a passive text reply "收到：<text>" with numbered options
    events      -> "success" (subscribe: a welcome text)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from integrations.simulator import Simulator, SimulatorClient, SimulatorConfig
from integrations.simulator.router import build_simulator_router
from integrations.wechat.crypto import WeChatCrypto, verify
from integrations.wechat.xml import image_reply, parse_xml, text_reply

TOKEN = "sim-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx5823bf96d3bd56c7"
APP_SECRET = "sim-test-secret"
ACCOUNT = "gh_sim_test"
BASE = "http://testserver"
API = f"{BASE}/simulator/wechat-api/cgi-bin"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Received:
    query: dict[str, str]
    body: bytes
    fields: dict[str, str]


@dataclass
class Env:
    app: FastAPI
    http: httpx.AsyncClient
    sim: Simulator
    client: SimulatorClient
    clock: FakeClock
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"{API}{path}", **kwargs)

    async def token(self) -> str:
        answer = (
            await self.api(
                "GET",
                "/token",
                params={"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET},
            )
        ).json()
        return str(answer["access_token"])

    async def push_text(self, openid: str, text: str, token: str | None = None) -> dict[str, Any]:
        token = token or await self.token()
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        response = await self.api(
            "POST", "/message/custom/send", params={"access_token": token}, json=body
        )
        return dict(response.json())


def build_fake_wechat(env_ref: dict[str, Env], *, safe: bool, slow_seconds: float) -> FastAPI:
    app = FastAPI()
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    @app.get("/wechat")
    async def check(request: Request) -> Response:
        q = request.query_params
        if not verify(q.get("signature"), TOKEN, q.get("timestamp"), q.get("nonce")):
            return PlainTextResponse("forbidden", 403)
        return PlainTextResponse(q.get("echostr", ""))

    @app.post("/wechat")
    async def receive(request: Request) -> Response:
        env = env_ref["env"]
        q = request.query_params
        body = await request.body()
        if not verify(q.get("signature"), TOKEN, q.get("timestamp"), q.get("nonce")):
            env.rejected.append("signature")
            return PlainTextResponse("forbidden", 403)
        if safe:
            if q.get("encrypt_type") != "aes":
                env.rejected.append("encrypt_type")
                return PlainTextResponse("bad", 400)
            outer = parse_xml(body)
            if set(outer) != {"ToUserName", "Encrypt"}:
                env.rejected.append("envelope")
                return PlainTextResponse("bad", 400)
            inner = crypto.decrypt_message(
                body, q.get("msg_signature"), q.get("timestamp"), q.get("nonce")
            )
            fields = parse_xml(inner)
        else:
            if "encrypt_type" in q or "msg_signature" in q:
                env.rejected.append("unexpected aes")
                return PlainTextResponse("bad", 400)
            fields = parse_xml(body)
        env.received.append(Received(dict(q), body, fields))

        user, account = fields["FromUserName"], fields["ToUserName"]
        text = fields.get("Content", "")
        now = int(time.time())

        def reply(xml: str) -> Response:
            if safe:
                xml = crypto.encrypt_reply(xml, timestamp=str(now)).to_xml()
            return Response(xml, media_type="application/xml")

        if fields["MsgType"] == "event":
            if fields["Event"] == "subscribe":
                return reply(
                    text_reply(
                        to_user=user,
                        from_user=account,
                        content="欢迎关注！\n1. 我要反映\n2. 我的诉求\n请回复序号或文字选择。",
                        create_time=now,
                    )
                )
            return PlainTextResponse("success")
        if text == "boom":
            return PlainTextResponse("error", 500)
        if text == "slow":
            await asyncio.sleep(slow_seconds)
            return PlainTextResponse("success")
        if text == "quiet":
            return PlainTextResponse("success")
        if text == "push me":

            async def later() -> None:
                await asyncio.sleep(0.05)
                await env.push_text(user, "推送：你好")

            task = asyncio.create_task(later())
            env.background.add(task)
            task.add_done_callback(env.background.discard)
            return PlainTextResponse("success")
        if safe and text == "badsig":
            envelope = crypto.encrypt_reply(
                text_reply(to_user=user, from_user=account, content="x", create_time=now),
                timestamp=str(now),
            )
            bad = envelope.to_xml().replace(envelope.msg_signature, "0" * 40)
            return Response(bad, media_type="application/xml")
        if safe and text == "plain":
            return Response(
                text_reply(to_user=user, from_user=account, content="明文", create_time=now),
                media_type="application/xml",
            )
        if text == "image":
            return reply(
                image_reply(to_user=user, from_user=account, media_id="MEDIA123", create_time=now)
            )
        shown = text or fields["MsgType"]
        return reply(
            text_reply(
                to_user=user,
                from_user=account,
                content=f"收到：{shown}\n1. 我要反映\n2. 我的诉求\n请回复序号或文字选择。",
                create_time=now,
            )
        )

    return app


EnvFactory = Callable[..., Any]


@pytest.fixture
async def make_env() -> AsyncIterator[EnvFactory]:
    opened: list[httpx.AsyncClient] = []

    async def factory(
        *,
        safe: bool = False,
        reply_timeout: float = 5.0,
        slow_seconds: float = 1.0,
        **overrides: Any,
    ) -> Env:
        env_ref: dict[str, Env] = {}
        app = build_fake_wechat(env_ref, safe=safe, slow_seconds=slow_seconds)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        opened.append(http)
        settings: dict[str, Any] = {
            "token": TOKEN,
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "account_id": ACCOUNT,
            "webhook_url": f"{BASE}/wechat",
            "encoding_aes_key": AES_KEY if safe else None,
            "safe_mode": safe,
            "reply_timeout": reply_timeout,
        }
        config = SimulatorConfig(**(settings | overrides))
        clock = FakeClock()
        sim = Simulator(config, http, clock=clock)
        app.include_router(build_simulator_router(sim))
        env = Env(app=app, http=http, sim=sim, client=SimulatorClient(sim), clock=clock)
        env_ref["env"] = env
        return env

    yield factory
    for http in opened:
        await http.aclose()


@pytest.fixture
async def env(make_env: EnvFactory) -> Env:
    result: Env = await make_env()
    return result


@pytest.fixture
async def safe_env(make_env: EnvFactory) -> Env:
    result: Env = await make_env(safe=True)
    return result
