"""好差评: once per matter; a bad one reopens the ticket and alerts staff."""

from __future__ import annotations

from bot.types import TicketStatus
from tests.handlers.harness import Conversation, conversation, reading, scripted

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


async def finished_ticket(chat: Conversation) -> str:
    await chat.say(LAMP)
    await chat.say("不留")
    await chat.say("没有")
    await chat.say("确认")
    (record,) = chat.tickets.filed()
    assert record.ticket_id is not None
    _, change = chat.tickets.advance(record.ticket_id, TicketStatus.FINISHED, note="已修复。")
    await chat.progress(change)
    return record.ticket_id


def lamp_chat(**more: object) -> Conversation:
    readings = {LAMP: reading("seek_help"), "我要评价": reading("rate"), **more}
    return conversation(scripted(readings))  # type: ignore[arg-type]


async def test_a_rating_button_rates_once() -> None:
    chat = lamp_chat()
    ticket_id = await finished_ticket(chat)
    thanks = await chat.press(f"RATE:{ticket_id}:5", "非常满意")
    assert thanks.text.startswith("感谢您的评价（非常满意）")
    assert chat.tickets.ratings == [(ticket_id, 5)]
    assert "rating_due" not in (await chat.state()).context
    again = await chat.press(f"RATE:{ticket_id}:4", "满意")
    assert again.text == "每件诉求只能评价一次，您已评价过。"
    assert chat.tickets.ratings == [(ticket_id, 5)]
    assert chat.alerts.sent == []


async def test_a_numbered_answer_rates_by_the_list_shown() -> None:
    chat = lamp_chat()
    ticket_id = await finished_ticket(chat)
    await chat.say("3")
    assert chat.tickets.ratings == [(ticket_id, 3)]


async def test_a_bad_rating_reopens_and_alerts_staff() -> None:
    chat = lamp_chat()
    ticket_id = await finished_ticket(chat)
    sorry = await chat.say("非常不满意")
    assert sorry.text.startswith("非常抱歉没能让您满意。")
    assert "重新办理（重办）" in sorry.text
    assert chat.tickets.tickets[ticket_id].status is TicketStatus.REOPENED
    (alert,) = chat.alerts.sent
    assert alert.kind == "bad_rating" and alert.ticket_id == ticket_id
    assert "非常不满意" in alert.text


async def test_the_rate_intent_asks_about_the_newest_unrated_finished_ticket() -> None:
    chat = lamp_chat()
    ticket_id = await finished_ticket(chat)
    asked = await chat.say("我要评价")
    assert asked.text.startswith(f"工单{ticket_id}：请您对办理结果进行评价")
    assert asked.buttons[0].payload == f"RATE:{ticket_id}:5"
    await chat.say("基本满意")
    once = await chat.say("我要评价")
    assert once.text.startswith("每件诉求只能评价一次")
    assert chat.tickets.ratings == [(ticket_id, 3)]


async def test_someone_elses_ticket_cannot_be_rated() -> None:
    chat = lamp_chat()
    ticket_id = await finished_ticket(chat)
    neighbour = chat.as_neighbour()
    reply = await neighbour.press(f"RATE:{ticket_id}:1", "非常不满意")
    assert reply.text == "没有找到这个工单，请核对工单编号。"
    assert chat.tickets.ratings == [] and chat.alerts.sent == []


async def test_a_malformed_rating_payload_is_refused_politely() -> None:
    chat = lamp_chat()
    reply = await chat.press("RATE:MH202611230001:9", "")
    assert reply.text == "这个评价选项无效，请重新选择。"
