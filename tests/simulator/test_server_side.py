"""The simulator as the WeChat server: XML, signatures, safe mode, retries."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from integrations.simulator import UNAVAILABLE, SimulatorError, numbered_options
from integrations.simulator.samples import RESIDENTS, make_openid

from .conftest import ACCOUNT, APP_ID, BASE, TOKEN, Env, EnvFactory


def test_openids_look_like_wechat() -> None:
    ids = {make_openid(APP_ID, r.key) for r in RESIDENTS}
    assert len(ids) == len(RESIDENTS)
    for openid in ids:
        assert len(openid) == 28
        assert openid.startswith("o")
        assert all(c.isalnum() or c in "-_" for c in openid)
    assert make_openid(APP_ID, "zhang") == make_openid(APP_ID, "zhang")


def test_numbered_options() -> None:
    text = "请选择：\n1. 我要反映\n2．我的诉求\n3、转人工\n请回复序号或文字选择。"
    assert numbered_options(text) == [("1", "我要反映"), ("2", "我的诉求"), ("3", "转人工")]
    assert numbered_options("2024.5 不是选项") == []


async def test_text_is_signed_and_replied(env: Env) -> None:
    reply = await env.client.send_text("zhang", "路灯坏了")
    assert reply is not None and reply.startswith("收到：路灯坏了")
    assert env.rejected == []
    [got] = env.received
    q = got.query
    expected = hashlib.sha1(
        "".join(sorted([TOKEN, q["timestamp"], q["nonce"]])).encode()
    ).hexdigest()
    assert q["signature"] == expected
    assert q["openid"] == env.client.openid("zhang")
    assert got.fields["ToUserName"] == ACCOUNT
    assert got.fields["FromUserName"] == env.client.openid("张阿姨")
    assert got.fields["MsgType"] == "text"
    assert got.fields["Content"] == "路灯坏了"
    assert got.fields["MsgId"].isdigit()
    assert b"<CreateTime>" in got.body and b"<MsgId>" in got.body

    last = env.client.last
    assert last is not None and last.status == "reply" and last.http_status == 200
    assert last.reply is not None
    assert last.reply.options == [("1", "我要反映"), ("2", "我的诉求")]
    assert last.warnings == []
    entries = env.sim.transcript("zhang")
    assert [(e["direction"], e["via"]) for e in entries] == [("in", None), ("out", "passive")]
    assert entries[1]["options"][0] == {"id": "1", "content": "我要反映"}


async def test_msgids_are_unique_and_events_have_none(env: Env) -> None:
    for i in range(30):
        await env.client.send_text("li" if i % 2 else "wang", f"第{i}条")
    await env.client.send_event("li", "subscribe")
    await env.client.click("li", "MENU_REPORT")
    ids = [r.fields["MsgId"] for r in env.received if "MsgId" in r.fields]
    assert len(ids) == 30 and len(set(ids)) == 30
    events = [r for r in env.received if r.fields["MsgType"] == "event"]
    assert len(events) == 2
    assert all("MsgId" not in e.fields for e in events)
    # Two events of one resident never share FromUserName + CreateTime.
    assert events[0].fields["CreateTime"] != events[1].fields["CreateTime"]


async def test_safe_mode_round_trip(safe_env: Env) -> None:
    reply = await safe_env.client.send_text("chen", "店门口的井盖松了")
    assert reply is not None and reply.startswith("收到：店门口的井盖松了")
    assert safe_env.rejected == []
    [got] = safe_env.received
    assert got.query["encrypt_type"] == "aes"
    assert "msg_signature" in got.query and "signature" in got.query
    assert b"Content" not in got.body  # the message travels encrypted
    assert got.fields["Content"] == "店门口的井盖松了"
    last = safe_env.client.last
    assert last is not None and last.reply_signature_ok is True
    assert "店门口的井盖松了" in last.xml  # the plaintext is kept for the page


async def test_safe_mode_events_and_welcome(safe_env: Env) -> None:
    welcome = await safe_env.client.subscribe("zhao")
    assert welcome is not None and "欢迎关注" in welcome
    assert safe_env.received[0].fields["Event"] == "subscribe"


async def test_safe_mode_rejects_bad_reply_signature(safe_env: Env) -> None:
    safe_env.client.strict = False
    assert await safe_env.client.send_text("zhang", "badsig") is None
    last = safe_env.client.last
    assert last is not None and last.status == "bad_reply"
    assert last.reply_signature_ok is False
    assert safe_env.sim.transcript("zhang")[-1]["text"] == UNAVAILABLE


async def test_safe_mode_rejects_plaintext_reply(safe_env: Env) -> None:
    with pytest.raises(SimulatorError) as caught:
        await safe_env.client.send_text("zhang", "plain")
    assert caught.value.result.status == "bad_reply"


async def test_image_message(env: Env) -> None:
    await env.client.send_image("wang")
    fields = env.received[-1].fields
    assert fields["MsgType"] == "image"
    assert fields["PicUrl"].startswith(f"{BASE}/simulator/media/")
    assert fields["PicUrl"].endswith(fields["MediaId"])
    picture = await env.http.get(fields["PicUrl"])
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")


async def test_voice_message(env: Env) -> None:
    await env.client.send_voice("zhao", recognition="楼道灯不亮")
    await env.client.send_voice("zhao")
    with_text, without = env.received[-2].fields, env.received[-1].fields
    assert with_text["MsgType"] == "voice"
    assert with_text["Format"] == "amr"
    assert with_text["Recognition"] == "楼道灯不亮"
    assert "Recognition" not in without
    assert env.sim.world.get_media(without["MediaId"]) is not None


async def test_location_message(env: Env) -> None:
    await env.client.send_location("li", 30.274085, 120.15507, label="人民公园东门", scale=15)
    got = env.received[-1]
    assert got.fields["Location_X"] == "30.274085"
    assert got.fields["Location_Y"] == "120.155070"
    assert got.fields["Scale"] == "15"
    assert got.fields["Label"] == "人民公园东门"
    assert b"<Location_X>30.274085</Location_X>" in got.body  # bare number, as WeChat


async def test_events(env: Env) -> None:
    assert await env.client.click("li", "MENU_HUMAN") is None  # "success"
    await env.client.unsubscribe("li")
    await env.client.subscribe("li")
    kinds = [(r.fields["Event"], r.fields.get("EventKey")) for r in env.received]
    assert kinds == [("CLICK", "MENU_HUMAN"), ("unsubscribe", ""), ("subscribe", "")]
    clicks = [e for e in env.sim.transcript("li") if e["kind"] == "event"]
    assert clicks[0]["text"] == "点击菜单「转人工」"


async def test_unsubscribed_resident_cannot_send(env: Env) -> None:
    await env.client.unsubscribe("wang")
    with pytest.raises(SimulatorError):
        await env.client.send_text("wang", "还在吗")
    assert [r.fields["MsgType"] for r in env.received] == ["event"]


async def test_quiet_answer_means_no_reply(env: Env) -> None:
    assert await env.client.send_text("zhang", "quiet") is None
    last = env.client.last
    assert last is not None and last.status == "no_reply"


async def test_passive_image_reply(env: Env) -> None:
    assert await env.client.send_text("zhang", "image") == "[图片]"
    last = env.client.last
    assert last is not None and last.reply is not None
    assert last.reply.media_id == "MEDIA123"


async def test_http_error_shows_unavailable(env: Env) -> None:
    with pytest.raises(SimulatorError) as caught:
        await env.client.send_text("zhang", "boom")
    assert caught.value.result.http_status == 500
    assert env.sim.transcript("zhang")[-1]["text"] == UNAVAILABLE


async def test_timeout_retries_with_same_message(make_env: EnvFactory) -> None:
    env: Env = await make_env(reply_timeout=0.1, slow_seconds=1.0)
    env.client.strict = False
    await env.client.send_text("zhang", "slow")
    last = env.client.last
    assert last is not None and last.status == "timeout" and last.attempts == 3
    assert len(env.received) == 3
    assert len({r.fields["MsgId"] for r in env.received}) == 1
    assert len({r.query["nonce"] for r in env.received}) == 3


async def test_unreachable_webhook(make_env: EnvFactory) -> None:
    env: Env = await make_env(webhook_url="http://127.0.0.1:9/wechat")
    env.sim.http = httpx.AsyncClient()  # a real (refused) connection
    try:
        env.client.strict = False
        await env.client.send_text("zhang", "有人吗")
        last = env.client.last
        assert last is not None and last.status == "unreachable"
    finally:
        await env.sim.http.aclose()


async def test_verify_url(env: Env) -> None:
    assert (await env.sim.verify_url())["ok"] is True


async def test_new_resident_by_key(env: Env) -> None:
    await env.client.send_text("tester", "你好")
    resident = env.sim.world.find("tester")
    assert resident is not None and resident.openid == make_openid(APP_ID, "tester")
