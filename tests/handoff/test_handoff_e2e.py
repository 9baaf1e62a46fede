"""Staff handoff end to end: residents in the simulator, staff through the desk.

The whole system runs in-process (``tests.support``): residents post real
WeChat XML to ``/wechat``; staff act through ``container.handoff`` as the
console does; what reaches residents is read from the simulator's fake
WeChat API (customer-service and template messages).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.errors import ReplyWindowClosed
from bot.handoff import HandoffDesk
from bot.types import (
    Channel,
    ConversationKey,
    HandoffCase,
    HandoffQueue,
    HandoffReason,
    Intent,
    TicketStatus,
)
from tests.e2e.test_ticket_loop import file_request, next_push, option_number, service
from tests.e2e.test_wechat_e2e import signed_query, text_xml
from tests.support import System, running_system

ACCOUNT = "gh_minhu_e2e"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@asynccontextmanager
async def handoff_system(tmp_path: Path, **overrides: Any) -> AsyncIterator[System]:
    values: dict[str, Any] = {"service_hours": "always", "wechat_template_id": "tmpl-handoff"}
    values.update(overrides)
    async with running_system(tmp_path, **values) as system:
        yield system


def desk(system: System) -> HandoffDesk:
    return system.container.handoff


def key_of(system: System, user: str) -> ConversationKey:
    return ConversationKey(Channel.WECHAT, ACCOUNT, system.residents.openid(user))


async def open_case(system: System, user: str) -> HandoffCase:
    case = await desk(system).open_case(key_of(system, user))
    assert case is not None, f"{user} is not with staff"
    return case


async def settled(system: System) -> None:
    """Let queued turns and deliveries finish."""
    await system.container.ingest.drain()
    await asyncio.sleep(0.3)
    await system.container.ingest.drain()


async def no_push(system: System, user: str) -> None:
    try:
        push = await system.residents.wait_for_push(user, timeout=0.5)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected push: {push.text}")


async def test_a_person_takes_over_and_gives_the_chat_back(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        residents = system.residents
        user = "wang"
        told = await residents.send_text(user, "转人工")
        assert told is not None and "正在为您转接人工服务" in told and "预计等待约5分钟" in told
        case = await open_case(system, user)
        assert case.reason is HandoffReason.ASKED and case.queue is HandoffQueue.AGENT

        # While with staff: no passive reply, nothing pushed, everything recorded.
        assert await residents.send_text(user, "我家楼上天天漏水") is None
        assert await residents.send_image(user) is None
        assert await residents.send_location(user, 39.9087, 116.3975, label="和平路12号") is None
        assert await residents.send_voice(user, recognition="已经漏了一个星期了") is None
        await settled(system)
        assert residents.pushes(user) == []
        history = await desk(system).history(case.key)
        mine = [(e.kind, e.text) for e in history if e.author == "resident"]
        assert ("text", "我家楼上天天漏水") in mine and ("voice", "已经漏了一个星期了") in mine
        assert any(kind == "image" for kind, _ in mine)
        assert any(kind == "location" and "和平路12号" in t for kind, t in mine)
        assert all(e.case_id == case.case_id for e in history if e.text == "我家楼上天天漏水")
        assert (await desk(system).get(case.case_id)).last_resident_at is not None

        # Staff claim and reply: a customer-service message on WeChat.
        await desk(system).claim(case.case_id, "agent1")
        entry = await desk(system).reply(
            case.case_id, "agent1", "您好，我是坐席小王，马上帮您联系物业")
        push = await residents.wait_for_push(user, timeout=10)
        assert push.via == "custom" and "马上帮您联系物业" in push.text
        await settled(system)
        replies = [e for e in await desk(system).history(case.key) if e.entry_id == entry.entry_id]
        assert replies[0].delivery == "sent"

        # Handing back: the resident is told, and the bot answers again.
        await desk(system).hand_back(case.case_id, "agent1")
        assert "人工服务已结束，接下来由智能助手继续为您服务" in await next_push(system, user)
        again = await residents.send_text(user, "你好")
        assert again is not None and "民呼" in again
        actions = [e.action for e in await desk(system).audit_log(case_id=case.case_id)]
        assert actions == ["hand_back", "reply", "claim"]


async def test_an_idle_chat_returns_to_the_bot(tmp_path: Path) -> None:
    async with handoff_system(tmp_path, handoff_idle_minutes=0.01,
                              handoff_idle_poll_seconds=0.1) as system:
        user = "li"
        await system.residents.send_text(user, "我要人工服务")
        case = await open_case(system, user)
        notice = await next_push(system, user)
        assert "较长时间没有新消息" in notice and "智能助手" in notice
        assert (await desk(system).get(case.case_id)).closed_by == "idle"
        assert await system.residents.send_text(user, "你好") is not None


class Unsure:
    """NLU that never understands."""

    async def parse(self, text: str) -> Intent:
        return Intent("nlu_fallback", 0.2, source="rasa")


async def test_two_unclear_turns_hand_over(tmp_path: Path) -> None:
    async with handoff_system(tmp_path, understanding=Unsure()) as system:
        first = await system.residents.send_text("zhao", "那个那个")
        assert first is not None and "换个说法" in first
        second = await system.residents.send_text("zhao", "就是那个嘛")
        assert second is not None and "已为您转接人工服务" in second
        case = await open_case(system, "zhao")
        assert case.reason is HandoffReason.UNCLEAR and "就是那个嘛" in case.summary


async def test_distress_words_hand_over_even_in_traditional_characters(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        reply = await system.residents.send_text("qian", "我真的忍無可忍了！！")
        assert reply is not None and "理解您现在的心情" in reply and "转接人工" in reply
        case = await open_case(system, "qian")
        assert case.reason is HandoffReason.DISTRESS and case.queue is HandoffQueue.AGENT


async def test_sensitive_matters_go_to_the_supervisor_queue(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        reply = await system.residents.send_text("sun", "我要举报我们村支书贪污扶贫款")
        assert reply is not None and "值班负责同志" in reply
        case = await open_case(system, "sun")
        assert case.reason is HandoffReason.SENSITIVE and case.queue is HandoffQueue.SUPERVISOR

        crisis = await system.residents.send_text("zhou", "活着没意思，我不想活了")
        assert crisis is not None
        for number in ("12356", "400-161-9995", "110", "120"):
            assert number in crisis
        case = await open_case(system, "zhou")
        assert case.queue is HandoffQueue.SUPERVISOR
        assert await desk(system).queue(queues=[HandoffQueue.AGENT]) == []


async def test_an_emergency_files_an_urgent_ticket_and_hands_over(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        reply = await system.residents.send_text("wu", "救命，楼道里着火了")
        assert reply is not None and reply.index("119") < reply.index("转接人工服务")
        case = await open_case(system, "wu")
        assert case.reason is HandoffReason.EMERGENCY
        orders = await service(system).search()
        assert len(orders) == 1 and orders[0].urgent


async def test_a_second_bad_rating_on_the_same_matter_hands_over(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        user = "zheng"
        reply = await file_request(system, user, "和平路菜市场门口的下水道堵了，污水流到人行道上")
        ticket_id = next(w for w in reply.split() if "MH" in w)
        ticket_id = ticket_id[ticket_id.index("MH"):][:14]
        svc = service(system)
        for status in (TicketStatus.DISPATCHED, TicketStatus.IN_PROGRESS, TicketStatus.FINISHED):
            await svc.transition(ticket_id, status, actor="test", note="已疏通")
        pushes = [await next_push(system, user) for _ in range(3)]
        first = await system.residents.send_text(user, option_number(pushes[-1], "非常不满意"))
        assert first is not None and "重办" in first
        assert await desk(system).open_case(key_of(system, user)) is None
        for status in (TicketStatus.IN_PROGRESS, TicketStatus.FINISHED):
            await svc.transition(ticket_id, status, actor="test", note="再次疏通")
        finished_again = [await next_push(system, user) for _ in range(2)][-1]
        assert "再次疏通" in finished_again
        second = await system.residents.send_text(user, "不满意")
        assert second is not None and "仍没能让您满意" in second and "转接人工" in second
        case = await open_case(system, user)
        assert case.reason is HandoffReason.BAD_RATING and ticket_id in case.summary


def _closed_today() -> str:
    """Service hours that are certainly not now: one day, two days from today."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).weekday()
    return f"{_DAYS[(today + 2) % 7]} 09:00-18:00"


async def test_outside_service_hours_a_ticket_is_filed_and_the_return_told(
    tmp_path: Path,
) -> None:
    async with handoff_system(tmp_path, service_hours=_closed_today()) as system:
        await system.residents.send_text("feng", "幸福里小区的电梯又坏了，老人下不了楼")
        reply = await system.residents.send_text("feng", "转人工")
        assert reply is not None and "非工作时间" in reply and "上班后" in reply
        assert "工单" in reply
        case = await open_case(system, "feng")
        assert case.after_hours
        orders = await service(system).search()
        assert any("电梯" in o.description and "非工作时间" in o.description for o in orders)


async def test_a_closed_window_offers_the_subscribe_message(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        user = "chen"
        await system.residents.send_text(user, "转人工")
        case = await open_case(system, user)
        engine = system.storage.engine
        assert engine is not None
        async with engine.begin() as conn:  # the resident's 48 hours are over
            await conn.execute(text("UPDATE reply_windows SET expires_at = :past"),
                               {"past": (datetime.now(UTC) - timedelta(hours=1))
                                .replace(tzinfo=None)})
        assert not (await desk(system).window(case.key)).open
        with pytest.raises(ReplyWindowClosed):
            await desk(system).reply(case.case_id, "agent1", "您好，请问还需要帮助吗？")
        entry = await desk(system).reply_by_subscribe(case.case_id, "agent1",
                                                      "您好，请问还需要帮助吗？")
        assert entry.delivery == "subscribe"
        push = await system.residents.wait_for_push(user, timeout=10)
        assert push.via == "template" and push.template_id == "tmpl-handoff"
        assert "还需要帮助吗" in str(push.payload) or "还需要帮助吗" in push.text
        await settled(system)
        latest = await desk(system).history(case.key)
        assert [e.delivery for e in latest if e.entry_id == entry.entry_id] == ["subscribe"]


async def test_a_duplicate_delivery_during_handoff_is_recorded_once(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        user = "han"
        await system.residents.send_text(user, "转人工")
        case = await open_case(system, user)
        body = text_xml(system.residents.openid(user), "物业还没来", "24000000000000099")
        responses = await asyncio.gather(*(
            system.http.post("/wechat", params=signed_query(), content=body) for _ in range(3)))
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert all("<xml>" not in r.text for r in responses)  # no passive reply
        await settled(system)
        lines = [e for e in await desk(system).history(case.key) if e.text == "物业还没来"]
        assert len(lines) == 1 and lines[0].case_id == case.case_id
        await no_push(system, user)


async def test_ticket_progress_still_reaches_a_resident_with_staff(tmp_path: Path) -> None:
    async with handoff_system(tmp_path) as system:
        user = "jiang"
        reply = await file_request(system, user, "南桥街道幸福路上的井盖松动了，车压过去哐哐响")
        ticket_id = reply[reply.index("MH"):][:14]
        await system.residents.send_text(user, "转人工")
        case = await open_case(system, user)
        await service(system).transition(ticket_id, TicketStatus.DISPATCHED, actor="test")
        pushed = await next_push(system, user)
        assert ticket_id in pushed and "已派单" in pushed
        await settled(system)
        lines = await desk(system).history(case.key)
        assert any(e.kind == "ticket" and ticket_id in e.text and e.case_id == case.case_id
                   for e in lines)
        assert (await desk(system).open_case(case.key)) == await desk(system).get(case.case_id)
