"""Chat turns from the mini-program: the same dialogue as the official account."""

from __future__ import annotations

import re
from pathlib import Path

from bot.types import Channel, ConversationKey, OutboundMessage

from .support import MP_APP_ID, mini_program, mp_system, png

COMPLAINT = "楼下烧烤店每天晚上油烟很大，熏得我们没法开窗，我要投诉"


def as_plain(message: dict[str, object]) -> str:
    """The message as the official account shows it (numbered options)."""
    buttons = message["buttons"]
    assert isinstance(buttons, list)
    if not buttons:
        return str(message["text"])
    options = "\n".join(f"{i}. {b['title']}" for i, b in enumerate(buttons, start=1))
    return f"{message['text']}\n{options}\n请回复序号或文字选择。"


async def test_a_complaint_gets_the_same_intake_questions_as_on_wechat(tmp_path: Path) -> None:
    answers = ("和平路12号", "不清楚", "不留电话", "没有照片")
    async with mp_system(tmp_path) as system, mini_program(system, "zhou") as mp:
        wechat = [await system.residents.send_text("alice", COMPLAINT)]
        first = await mp.say(COMPLAINT)
        assert first["duplicate"] is False
        mini = [first["messages"][0]]
        for answer in answers:
            wechat.append(await system.residents.send_text("alice", answer))
            (reply,) = (await mp.say(answer))["messages"]
            mini.append(reply)
        assert [as_plain(m) for m in mini] == wechat
        # Buttons come as buttons: pressing one sends its payload back.
        last = mini[-1]
        assert last["kind"] == "buttons" and last["buttons"], last
        confirm = next(b for b in last["buttons"] if "确认" in b["title"])
        (done,) = (await mp.say(confirm["title"], payload=confirm["payload"]))["messages"]
        assert re.search(r"工单编号MH\d{12}", done["text"]), done
        requests = (await mp.ok("GET", "/requests"))["requests"]
        assert len(requests) == 1 and requests[0]["type"] == "complain"


async def test_a_retried_message_is_processed_once(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "wu") as mp:
        key = ConversationKey(Channel.MINIPROGRAM, MP_APP_ID, mp.user.openid)
        body = {"client_msg_id": "retry-me-1", "text": COMPLAINT}
        first = await mp.ok("POST", "/chat", json=body)
        version = (await system.storage.conversations.load(key)).version
        again = await mp.ok("POST", "/chat", json=body)
        assert again["duplicate"] is True and again["messages"] == first["messages"]
        assert (await system.storage.conversations.load(key)).version == version
        # The same client id from someone else is their own message.
        async with mini_program(system, "zheng") as other:
            theirs = await other.ok("POST", "/chat", json=body)
            assert theirs["duplicate"] is False


async def test_locations_and_photos_take_part_in_the_dialogue(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "feng") as mp:
        photo = (await mp.upload(png(7), filename="p.png", content_type="image/png")).json()
        (reply,) = (await mp.say(photo=photo["media_id"]))["messages"]
        assert "照片已收到" in reply["text"]
        (reply,) = (await mp.say(location={"latitude": 39.9, "longitude": 116.4,
                                           "address": "和平路12号"}))["messages"]
        assert reply["text"]
        # Someone else's photo cannot be sent.
        async with mini_program(system, "chen") as other:
            refused = await other.call("POST", "/chat", json={
                "client_msg_id": "x1", "photo": photo["media_id"]})
            assert refused.status_code == 422
            assert refused.json()["error"]["code"] == "unknown_media"


async def test_later_messages_wait_in_the_inbox(tmp_path: Path) -> None:
    async with mp_system(tmp_path) as system, mini_program(system, "jiang") as mp:
        assert await mp.inbox() == []
        first = await mp.say("你好")
        assert first["messages"] and first["cursor"] == 0
        # Whatever the bot pushes later goes through the outbox to the inbox.
        key = ConversationKey(Channel.MINIPROGRAM, MP_APP_ID, mp.user.openid)
        await system.storage.outbox.enqueue(key, [OutboundMessage.of_text("稍后补充的一条消息")])
        system.container.worker.kick()
        (message,) = await mp.wait_inbox(1)
        assert message["text"] == "稍后补充的一条消息" and message["cursor"] > 0
        assert await mp.inbox() == []
