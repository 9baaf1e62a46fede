"""What the resident is told as their ticket moves on."""

from __future__ import annotations

import pytest

from bot.types import RATING_LEVELS, TicketStatus
from tests.handlers.harness import Conversation, conversation, reading, scripted

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


async def filed_ticket(chat: Conversation) -> str:
    await chat.say(LAMP)
    await chat.say("不留")
    await chat.say("没有")
    await chat.say("确认")
    (record,) = chat.tickets.filed()
    assert record.ticket_id is not None
    return record.ticket_id


def lamp_chat() -> Conversation:
    return conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (TicketStatus.DISPATCHED, "已派单，由区城市管理委员会办理。"),
        (TicketStatus.REASSIGNED, "已改派给区城市管理委员会办理。"),
        (TicketStatus.IN_PROGRESS, "正在办理中，承办部门：区城市管理委员会。"),
        (TicketStatus.FOLLOWED_UP, "进行了回访"),
        (TicketStatus.CLOSED, "已关闭，感谢您的反映。"),
        (TicketStatus.REOPENED, "已重新交办"),
        (TicketStatus.WITHDRAWN, "已撤回"),
    ],
)
async def test_each_status_is_put_in_words(status: TicketStatus, expected: str) -> None:
    chat = lamp_chat()
    ticket_id = await filed_ticket(chat)
    _, change = chat.tickets.advance(ticket_id, status, note="已安排人员核实")
    (pushed,) = await chat.progress(change)
    assert ticket_id in pushed.text
    assert expected in pushed.text
    assert "说明：已安排人员核实" in pushed.text
    assert not pushed.buttons


async def test_a_returned_ticket_is_explained_without_blame() -> None:
    chat = lamp_chat()
    ticket_id = await filed_ticket(chat)
    _, change = chat.tickets.advance(ticket_id, TicketStatus.RETURNED,
                                     note="非本单位职责，请改派", department="区水务局")
    (pushed,) = await chat.progress(change)
    assert "正在重新安排更合适的承办部门" in pushed.text
    assert "区水务局" not in pushed.text and "非本单位职责" not in pushed.text


async def test_a_queued_request_filed_later_tells_the_number() -> None:
    chat = lamp_chat()
    chat.tickets.down = True
    await chat.say(LAMP)
    await chat.say("不留")
    await chat.say("没有")
    await chat.say("确认")
    (submission_id,) = chat.tickets.records
    change = chat.tickets.file_queued(submission_id)
    (pushed,) = await chat.progress(change)
    assert pushed.text.startswith("您的诉求已登记，工单编号MH202611230001。")


async def test_a_finished_ticket_gives_the_answer_and_asks_for_a_rating() -> None:
    chat = lamp_chat()
    ticket_id = await filed_ticket(chat)
    _, change = chat.tickets.advance(ticket_id, TicketStatus.FINISHED,
                                     note="路灯线路已修复，当晚恢复照明。")
    (pushed,) = await chat.progress(change)
    assert "已办结，承办部门：区城市管理委员会。" in pushed.text
    assert "答复：路灯线路已修复，当晚恢复照明。" in pushed.text
    assert [b.title for b in pushed.buttons] == list(RATING_LEVELS)
    assert [b.payload for b in pushed.buttons] == [f"RATE:{ticket_id}:{s}" for s in (5, 4, 3, 2, 1)]
    assert (await chat.state()).context["rating_due"] == ticket_id


async def test_an_adopted_suggestion_says_so() -> None:
    text = "建议在和平路口加个红绿灯"
    chat = conversation(scripted({text: reading("suggest")}))
    await chat.say(text)
    await chat.say("不留")
    await chat.say("确认")
    (record,) = chat.tickets.filed()
    assert record.ticket_id is not None
    _, change = chat.tickets.advance(record.ticket_id, TicketStatus.FINISHED,
                                     note="已纳入明年路口改造计划。", adopted=True)
    (pushed,) = await chat.progress(change)
    assert "您的建议已被采纳。" in pushed.text and "已纳入明年路口改造计划" in pushed.text
    _, change = chat.tickets.advance(record.ticket_id, TicketStatus.CLOSED, adopted=False)
    (pushed,) = await chat.progress(change)
    assert "您的建议暂未被采纳。" in pushed.text


async def test_progress_does_not_disturb_a_flow_in_progress() -> None:
    other = "举报和平路88号有人无证经营"
    chat = conversation(scripted({LAMP: reading("seek_help"), other: reading("report")}))
    ticket_id = await filed_ticket(chat)
    await chat.say(other)
    anonymous = await chat.say("不清楚")
    assert "是否匿名" in anonymous.text
    before = await chat.state()
    _, change = chat.tickets.advance(ticket_id, TicketStatus.FINISHED, note="已修复。")
    (pushed,) = await chat.progress(change)
    assert not pushed.buttons
    assert "直接回复“非常满意”" in pushed.text
    after = await chat.state()
    assert (after.flow, after.awaiting, after.slots) == (before.flow, before.awaiting, before.slots)
    # "1" still answers the flow's question (匿名), not the rating.
    photos = await chat.say("1")
    assert "照片" in photos.text
    assert chat.tickets.ratings == []
    # The rating can be typed in words meanwhile, and the flow carries on.
    thanks = await chat.say("满意")
    assert "感谢您的评价（满意）" in thanks.text
    assert chat.tickets.ratings == [(ticket_id, 4)]
    assert (await chat.state()).flow == "intake"


async def test_a_ticket_already_rated_is_not_asked_again() -> None:
    chat = lamp_chat()
    ticket_id = await filed_ticket(chat)
    _, change = chat.tickets.advance(ticket_id, TicketStatus.FINISHED, note="已修复。")
    await chat.progress(change)
    await chat.say("不满意")
    _, change = chat.tickets.advance(ticket_id, TicketStatus.FINISHED, note="已再次修复。")
    (pushed,) = await chat.progress(change)
    assert not pushed.buttons and "评价" not in pushed.text
