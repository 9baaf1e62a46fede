"""The whole system through the simulator: what a resident and WeChat would see."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.types import Channel, ConversationKey, Intent
from integrations.wechat import WeChatCrypto, signature
from nlu.keywords import KeywordUnderstanding
from tests.support import System, running_system

TOKEN = "minhu-dev-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


async def count_rows(system: System, table: str) -> int:
    engine = system.storage.engine
    assert engine is not None
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


def text_xml(openid: str, content: str, msg_id: str, account: str = "gh_minhu_e2e") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>1732350000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def reply_content(xml: str) -> str:
    """The text of a passive reply (its CreateTime is fresh on every answer)."""
    return xml.split("<Content><![CDATA[", 1)[1].split("]]></Content>", 1)[0]


def signed_query(token: str = TOKEN) -> dict[str, str]:
    timestamp, nonce = "1732350000", "271828"
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp,
            "nonce": nonce}


async def test_a_newcomer_follows_and_chats(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        residents = system.residents
        welcome = await residents.subscribe("zhang")
        assert welcome is not None and "民呼" in welcome and "1. 我要反映" in welcome
        # Answering "1" picks the first option, as pressing the button would.
        prompt = await residents.send_text("zhang", "1")
        assert prompt is not None and "描述" in prompt
        answer = await residents.send_text("zhang", "我要投诉楼下饭店油烟太大，天天熏得开不了窗")
        assert answer is not None and "投诉" in answer and "环境保护" in answer
        emergency = await residents.send_text("zhang", "救命 楼道里着火了")
        assert emergency is not None and "119" in emergency
        # Four messages, and the staff handoff the emergency opened (fed in as an event).
        assert await count_rows(system, "inbound_messages") == 5
        assert residents.pushes("zhang") == []


async def test_photo_and_location_are_kept_on_the_conversation(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        residents = system.residents
        reply = await residents.send_image("li")
        assert reply is not None and "照片已收到" in reply
        reply = await residents.send_location("li", 39.9087, 116.3975, label="和平路12号")
        assert reply is not None and "和平路12号" in reply
        key = ConversationKey(Channel.WECHAT, "gh_minhu_e2e", residents.openid("li"))
        state = await system.storage.conversations.load(key)
        assert state.context["location"]["label"] == "和平路12号"
        assert len(state.context["photos"]) == 1


async def test_unknown_message_types_get_a_polite_reply(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        body = text_xml("oUnknownType0000000000000001", "x", "77").replace(
            "<MsgType><![CDATA[text]]></MsgType>", "<MsgType><![CDATA[hologram]]></MsgType>"
        )
        response = await system.http.post("/wechat", params=signed_query(), content=body)
        assert response.status_code == 200
        assert "暂时看不了这类消息" in response.text


@pytest.mark.parametrize(
    "query",
    [
        {"timestamp": "1732350000", "nonce": "271828", "signature": "0" * 40},
        {"timestamp": "1732350000", "nonce": "271828"},
        signed_query(token="not-our-token"),
    ],
    ids=["forged", "missing", "other-token"],
)
async def test_forged_or_missing_signature_is_refused_and_nothing_stored(
    tmp_path: Path, query: dict[str, str]
) -> None:
    async with running_system(tmp_path) as system:
        body = text_xml("oForger00000000000000000001", "你好", "1001")
        response = await system.http.post("/wechat", params=query, content=body)
        assert response.status_code == 403
        assert await count_rows(system, "inbound_messages") == 0
        assert await count_rows(system, "conversations") == 0


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    "<xml><ToUserName>gh_minhu_e2e</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol4;</Content>"
    "<MsgId>5</MsgId></xml>"
)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("<xml><ToUserName>unclosed", 400),
        (BILLION_LAUGHS, 400),
        ("<xml>" + "长" * (10 * 1024 * 1024 // 3) + "</xml>", 413),
    ],
    ids=["malformed", "billion-laughs", "10MB"],
)
async def test_hostile_bodies_get_a_4xx_and_leave_no_trace(
    tmp_path: Path, body: str, status: int
) -> None:
    async with running_system(tmp_path) as system:
        response = await system.http.post("/wechat", params=signed_query(), content=body)
        assert response.status_code == status
        assert await count_rows(system, "inbound_messages") == 0


async def test_same_msgid_three_times_concurrently_is_processed_once(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        openid = "oConcurrent0000000000000001"
        body = text_xml(openid, "小区门口的路灯坏了好几天了", "24000000000000042")
        responses = await asyncio.gather(
            *(system.http.post("/wechat", params=signed_query(), content=body) for _ in range(3))
        )
        assert [r.status_code for r in responses] == [200, 200, 200]
        answered = [r.text for r in responses if "<xml>" in r.text]
        assert len(answered) == 1 and "求助" in answered[0]
        assert await count_rows(system, "inbound_messages") == 1
        # One turn was committed, and nothing else is on its way to the resident.
        key = ConversationKey(Channel.WECHAT, "gh_minhu_e2e", openid)
        assert (await system.storage.conversations.load(key)).version == 1
        await asyncio.sleep(0.2)
        assert system.simulator.pushes(openid) == []
        # WeChat's retry after the fact gets the very same reply again.
        retry = await system.http.post("/wechat", params=signed_query(), content=body)
        assert reply_content(retry.text) == reply_content(answered[0])


class SlowUnderstanding:
    """Understands like the keyword rules, but takes ``delay`` seconds for '慢'."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.inner = KeywordUnderstanding()

    async def parse(self, text: str) -> Intent:
        if "慢" in text:
            await asyncio.sleep(self.delay)
        return await self.inner.parse(text)


@pytest.mark.slow
async def test_a_reply_that_takes_six_seconds_reaches_the_resident_once(
    tmp_path: Path,
) -> None:
    async with running_system(tmp_path, understanding=SlowUnderstanding(6.0)) as system:
        residents = system.residents
        started = time.monotonic()
        passive = await residents.send_text("wang", "我想投诉，慢慢说：楼上装修太吵了")
        acknowledged_after = time.monotonic() - started
        # WeChat got its answer (a bare "success") inside its 5 s, on the first try.
        assert passive is None
        assert acknowledged_after < 5.0
        assert residents.last is not None and residents.last.attempts == 1
        push = await residents.wait_for_push("wang", timeout=10)
        assert "投诉" in push.text and push.via == "custom"
        await asyncio.sleep(0.5)
        assert len(residents.pushes("wang")) == 1


async def test_safe_mode_round_trip(tmp_path: Path) -> None:
    async with running_system(tmp_path, wechat_aes_key=AES_KEY) as system:
        assert system.simulator.config.safe_mode
        reply = await system.residents.send_text("zhao", "你好")
        assert reply is not None and "民呼" in reply
        # A plaintext body in safe mode without msg_signature is not accepted as a message.
        crypto = WeChatCrypto(TOKEN, AES_KEY, system.settings.wechat_app_id)
        assert crypto.decrypt(crypto.encrypt("x")) == "x"


async def test_url_verification(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        query = {**signed_query(), "echostr": "hello-wechat"}
        response = await system.http.get("/wechat", params=query)
        assert response.status_code == 200 and response.text == "hello-wechat"
        query["signature"] = "f" * 40
        assert (await system.http.get("/wechat", params=query)).status_code == 403


async def test_operations_endpoints(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        assert (await system.http.get("/healthz")).json() == {"status": "ok"}
        ready = await system.http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        await system.residents.send_text("sun", "你好")
        metrics = (await system.http.get("/metrics")).text
        assert 'minhu_inbound_messages_total{channel="wechat",outcome="accepted"}' in metrics
