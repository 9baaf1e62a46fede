from __future__ import annotations

from bot.types import Intent
from tests.handlers.harness import conversation


def unsure(text: str) -> Intent:
    return Intent("complain", 0.41, category="城乡建设", source="rasa",
                  alternatives=(("seek_help", 0.38), ("greet", 0.1), ("report", 0.05)))


async def test_low_confidence_asks_with_buttons_instead_of_guessing() -> None:
    chat = conversation(unsure)
    reply = await chat.say("那个楼道的灯吧就是一直那样")
    assert reply.text == "请问您是想："
    assert [b.title for b in reply.buttons] == ["投诉", "求助", "举报", "都不是"]
    # Pressing a button needs no second NLU call, and keeps the category understood.
    answer = await chat.press("/seek_help", "求助")
    assert "求助" in answer.text and "城乡建设" in answer.text
    assert chat.understanding.calls == ["那个楼道的灯吧就是一直那样"]


async def test_two_unclear_turns_in_a_row_hand_over_to_staff() -> None:
    chat = conversation(unsure)
    await chat.say("那个就是")
    second = await chat.say("嗯那个")
    assert "已为您转接人工服务" in second.text and not second.buttons
    assert chat.desk is not None
    case = await chat.desk.open_case(chat.key)
    assert case is not None and case.reason == "unclear"
    assert "那个就是" in case.summary and "嗯那个" in case.summary


async def test_without_a_handoff_desk_two_unclear_turns_offer_a_person() -> None:
    chat = conversation(unsure, handoff=False)
    await chat.say("那个就是")
    second = await chat.say("嗯那个")
    assert "转接人工" in second.text
    assert [b.payload for b in second.buttons] == ["/human", "/report_start"]


async def test_a_clear_turn_resets_the_count() -> None:
    readings = iter([unsure, lambda t: Intent("greet", 0.97, source="rasa"), unsure])
    chat = conversation(lambda text: next(readings)(text))
    await chat.say("那个")
    await chat.say("你好")
    third = await chat.say("嗯那个")
    assert third.text == "请问您是想："


async def test_numbered_answer_works_where_buttons_do_not_show() -> None:
    chat = conversation(unsure)
    await chat.say("那个楼道的灯吧就是一直那样")
    answer = await chat.say("2")
    assert "求助" in answer.text
    assert len(chat.understanding.calls) == 1
