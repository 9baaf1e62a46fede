"""Consulting: the knowledge base first, a ticket for staff when it has no answer."""

from __future__ import annotations

from bot.types import Intent
from tests.handlers.fakes import FakeKnowledge
from tests.handlers.harness import conversation, reading, scripted

PERMIT = "居住证怎么办理"
PERMIT_ANSWER = "可以到居住地派出所或街道政务服务中心办理。"


def knowledge() -> FakeKnowledge:
    return FakeKnowledge({"居住证": PERMIT_ANSWER})


async def test_a_known_question_is_answered_with_a_way_on() -> None:
    chat = conversation(scripted({PERMIT: reading("consult", "政法")}), knowledge=knowledge())
    reply = await chat.say(PERMIT)
    assert reply.text.startswith(PERMIT_ANSWER)
    assert "具体以办理部门的要求为准" in reply.text
    assert [b.title for b in reply.buttons] == ["解决了", "没解决，帮我登记"]
    thanks = await chat.press("CONSULT:solved", "解决了")
    assert "很高兴能帮到您" in thanks.text
    assert chat.tickets.calls == []


async def test_an_answer_that_did_not_help_files_an_inquiry() -> None:
    chat = conversation(scripted({PERMIT: reading("consult", "政法")}), knowledge=knowledge())
    await chat.say(PERMIT)
    phone = await chat.say("2")
    assert phone.text.startswith("好的，帮您登记，由工作人员答复。")
    assert "联系电话" in phone.text
    summary = await chat.say("不留")
    assert "类型：咨询（政法）" in summary.text and f"内容：{PERMIT}" in summary.text
    assert "地点" not in summary.text
    await chat.say("确认")
    draft = chat.tickets.calls[0][1]
    assert draft.request_type == "consult" and draft.description == PERMIT


async def test_an_unknown_question_goes_straight_to_staff() -> None:
    question = "我们小区旁边的空地以后规划建什么"
    chat = conversation(scripted({question: reading("consult", "城乡建设")}),
                        knowledge=knowledge())
    reply = await chat.say(question)
    assert reply.text.startswith("这个问题需要工作人员答复，我帮您登记一下。")
    assert "联系电话" in reply.text
    assert chat.knowledge.asked == [question]


async def test_a_bare_consult_asks_the_question_then_searches_it() -> None:
    chat = conversation(scripted({"我想咨询一下": reading("consult")}), knowledge=knowledge())
    asked = await chat.say("我想咨询一下")
    assert asked.text == "请问您想咨询什么问题？"
    reply = await chat.say("办居住证要带什么材料")
    assert reply.text.startswith(PERMIT_ANSWER)
    assert chat.knowledge.asked == ["办居住证要带什么材料"]


async def test_consult_chosen_from_a_clarifying_question_searches_the_original_text() -> None:
    unsure = Intent("consult", 0.4, category="政法", source="rasa",
                    alternatives=(("seek_help", 0.35),))
    chat = conversation(lambda text: unsure, knowledge=knowledge())
    await chat.say("居住证那个事")
    reply = await chat.press("/consult", "咨询政策或办事")
    assert reply.text.startswith(PERMIT_ANSWER)
    assert chat.knowledge.asked == ["居住证那个事"]
