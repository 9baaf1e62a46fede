"""Pushes, reply windows and replicas, through the real sender and the simulated WeChat API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from bot.types import Channel, ConversationKey, OutboundMessage
from tests.e2e.test_wechat_e2e import reply_content, signed_query, text_xml
from tests.support import running_system


async def test_closed_window_falls_back_to_template_messages(tmp_path: Path) -> None:
    async with running_system(tmp_path, wechat_template_id="TPL_PROGRESS") as system:
        residents = system.residents
        assert await residents.send_text("zhou", "你好") is not None
        key = ConversationKey(Channel.WECHAT, "gh_minhu_e2e", residents.openid("zhou"))
        # Seven progress notes for one resident message: WeChat allows five pushes.
        await system.storage.outbox.enqueue(
            key, [OutboundMessage.of_text(f"进度更新 {n}") for n in range(1, 8)]
        )
        system.container.worker.kick()
        pushes = [await residents.wait_for_push("zhou", timeout=5) for _ in range(7)]
        assert [p.via for p in pushes] == ["custom"] * 5 + ["template"] * 2
        assert [p.text for p in pushes[:5]] == [f"进度更新 {n}" for n in range(1, 6)]
        assert all(p.template_id == "TPL_PROGRESS" for p in pushes[5:])
        assert "进度更新 6" in str(pushes[5].as_dict())


async def test_long_answers_are_split_within_wechat_limits(tmp_path: Path) -> None:
    async with running_system(tmp_path) as system:
        residents = system.residents
        await residents.send_text("wu", "你好")
        key = ConversationKey(Channel.WECHAT, "gh_minhu_e2e", residents.openid("wu"))
        long_text = "。".join(f"第{n}条处理意见：请社区网格员上门核实情况并反馈" for n in range(80))
        await system.storage.outbox.enqueue(key, [OutboundMessage.of_text(long_text)])
        system.container.worker.kick()
        first = await residents.wait_for_push("wu", timeout=5)
        await asyncio.sleep(0.3)
        parts = residents.pushes("wu")
        assert len(parts) >= 2 and parts[0] == first
        assert all(len(p.text.encode()) <= 2048 for p in parts)
        assert "".join(p.text for p in parts).replace("\n", "") == long_text


async def test_voice_with_recognition_is_confirmed_then_understood_like_text(
    tmp_path: Path,
) -> None:
    async with running_system(tmp_path) as system:
        echo = await system.residents.send_voice(
            "zheng", recognition="我要投诉小区电梯老是坏"
        )
        assert echo is not None and echo.startswith("您说的是：“我要投诉小区电梯老是坏” 对吗？")
        reply = await system.residents.send_text("zheng", "对")
        assert reply is not None and "投诉" in reply


async def test_two_replicas_on_one_database_process_a_retried_message_once(
    tmp_path: Path,
) -> None:
    async with running_system(tmp_path) as system, system.replica() as replica:
        openid = "oReplicated0000000000000001"
        body = text_xml(openid, "楼道灯坏了好几天", "24000000000000777")
        responses = await asyncio.gather(
            system.http.post("/wechat", params=signed_query(), content=body),
            replica.post("/wechat", params=signed_query(), content=body),
            system.http.post("/wechat", params=signed_query(), content=body),
            replica.post("/wechat", params=signed_query(), content=body),
        )
        assert all(r.status_code == 200 for r in responses)
        # Deliveries that arrive after the turn committed get its reply again;
        # earlier ones get a bare "success". Never a second, different answer.
        replies = {reply_content(r.text) for r in responses if "<xml>" in r.text}
        assert len(replies) == 1 and "求助" in replies.pop()
        assert all(r.text == "success" or "<xml>" in r.text for r in responses)
        engine = system.storage.engine
        assert engine is not None
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT count(*) FROM inbound_messages"))).scalar_one()
        assert rows == 1
        key = ConversationKey(Channel.WECHAT, "gh_minhu_e2e", openid)
        assert (await system.storage.conversations.load(key)).version == 1


async def test_a_dialogue_alternating_between_two_replicas_never_runs_a_turn_twice(
    tmp_path: Path,
) -> None:
    """Each replica caches conversation state; the state read when a message is
    accepted keeps the other replica's copy from going stale."""
    from bot.metrics import TURN_CONFLICTS

    conflicts_before = TURN_CONFLICTS._value.get()
    async with running_system(tmp_path) as system, system.replica() as replica:
        openid = "oAlternating00000000000000001"
        clients = [system.http, replica]
        answers = []
        for n, words in enumerate(("我要投诉", "幸福里小区3号楼门口的路灯坏了一个星期了",
                                   "和平路12号", "跳过")):
            response = await clients[n % 2].post(
                "/wechat", params=signed_query(),
                content=text_xml(openid, words, f"2400000000000088{n}"),
            )
            assert response.status_code == 200
            answers.append(reply_content(response.text))
        key = ConversationKey(Channel.WECHAT, "gh_minhu_e2e", openid)
        state = await system.storage.conversations.load(key)
    assert state.version == 4
    assert state.flow is not None and state.slots, state
    assert TURN_CONFLICTS._value.get() == conflicts_before
    assert len(set(answers)) == 4  # every answer moved the dialogue on
