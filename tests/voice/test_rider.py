"""The rider fast path: a quick button, a location, one voice note, one confirmation."""

from __future__ import annotations

from bot.types import InboundKind, Intent, OutboundMessage
from handlers.voice import RIDER_PROBLEMS
from nlu.keywords import CATEGORIES
from tests.handlers.harness import reading
from tests.voice.fakes import voice_conversation

SAID = "小区保安不让电动车进门，每次都要绕到东门"


def lenient(text: str) -> Intent:
    return reading("out_of_scope", confidence=0.3)


def titles(message: OutboundMessage) -> list[str]:
    return [b.title for b in message.buttons]


def payload_of(message: OutboundMessage, title: str) -> str:
    return next(b.payload for b in message.buttons if b.title == title)


def test_the_quick_buttons_map_to_request_types_and_taxonomy_categories() -> None:
    assert [p.title for p in RIDER_PROBLEMS] == [
        "进门难", "充电/换电", "停车", "驿站/用餐", "平台规则/罚款", "欠薪/社保", "交通",
    ]
    for problem in RIDER_PROBLEMS:
        assert problem.category in CATEGORIES
        assert problem.taxonomy.split("/")[0] == problem.category
        assert problem.request_type in ("seek_help", "complain", "suggest")


async def test_button_location_voice_and_one_confirmation_file_a_request() -> None:
    chat = voice_conversation(lenient)
    menu = await chat.say("骑手")
    assert len(menu.buttons) == 7 and titles(menu)[0] == "进门难"
    start = await chat.press(payload_of(menu, "进门难"), "进门难")
    assert "发送您的位置" in start.text
    located = await chat.send_location(30.2741, 120.1551, "幸福里小区南门")
    assert "位置已记下：幸福里小区南门" in located.text
    confirm = await chat.speak(SAID)
    assert confirm.text.startswith(f"您说的是：“{SAID}” 对吗？")
    assert "问题：进门难（城乡建设）" in confirm.text and "地点：幸福里小区南门" in confirm.text
    assert titles(confirm) == ["对，提交", "不对，重说", "取消"]
    filed = await chat.press(payload_of(confirm, "对，提交"), "对，提交")
    assert "工单编号" in filed.text
    [(_, draft)] = chat.tickets.calls
    assert draft.request_type == "seek_help" and draft.category == "城乡建设"
    assert draft.description == f"【骑手快速反映·进门难】{SAID}"
    assert draft.location is not None and draft.location.latitude == 30.2741
    assert draft.address == "幸福里小区南门"
    assert (await chat.state()).flow is None


async def test_the_phones_own_location_report_is_enough_and_yes_can_be_spoken() -> None:
    chat = voice_conversation(lenient)
    await chat.location_event(30.28, 120.16)
    start = await chat.press("RIDER:charge", "充电/换电")
    assert "已用您的位置" in start.text
    confirm = await chat.speak("换电柜坏了三个，排队要半小时")
    assert "“换电柜坏了3个，排队要半小时”" not in confirm.text  # 三个 is not a house number
    assert "问题：充电/换电" in confirm.text
    filed = await chat.speak("对")
    assert "工单编号" in filed.text
    [(_, draft)] = chat.tickets.calls
    assert draft.location is not None and draft.location.latitude == 30.28


async def test_voice_before_location_still_needs_one_confirmation() -> None:
    chat = voice_conversation(lenient)
    await chat.press("RIDER:wages", "欠薪/社保")
    heard = await chat.speak("站点三个月没发工资了")
    assert "您说的是：“站点三个月没发工资了”" in heard.text and "位置" in heard.text
    assert not heard.buttons
    confirm = await chat.send_location(30.3, 120.2, "城西配送站")
    assert "对吗？" in confirm.text and "问题：欠薪/社保（劳动和社会保障）" in confirm.text
    filed = await chat.press("RIDER:file", "对，提交")
    assert "工单编号" in filed.text
    [(_, draft)] = chat.tickets.calls
    assert draft.request_type == "complain" and draft.category == "劳动和社会保障"


async def test_no_asks_again_and_typed_words_work_too() -> None:
    chat = voice_conversation(lenient)
    await chat.send_location(30.3, 120.2, "人民路口")
    await chat.press("RIDER:traffic", "交通")
    confirm = await chat.speak("人民路口红灯太长")
    again = await chat.press(payload_of(confirm, "不对，重说"), "不对，重说")
    assert "再按住说一遍" in again.text
    typed = await chat.say("人民路口的红绿灯坏了，电动车道被占")
    assert typed.text.startswith("您说的是：“人民路口的红绿灯坏了，电动车道被占” 对吗？")
    filed = await chat.say("对")
    assert "工单编号" in filed.text
    [(_, draft)] = chat.tickets.calls
    assert draft.category == "政法" and "红绿灯坏了" in draft.description


async def test_cancel_ends_the_rider_flow_without_filing() -> None:
    chat = voice_conversation(lenient)
    await chat.send_location(30.3, 120.2, "人民路口")
    await chat.press("RIDER:parking", "停车")
    await chat.speak("没有地方停电动车")
    reply = await chat.say("取消")
    assert "已取消" in reply.text
    assert chat.tickets.calls == [] and (await chat.state()).flow is None


async def test_a_failed_voice_note_in_the_rider_flow_keeps_it() -> None:
    chat = voice_conversation(lenient)
    await chat.send_location(30.3, 120.2, "人民路口")
    await chat.press("RIDER:station", "驿站/用餐")
    missing = await chat.send(chat.message(InboundKind.VOICE, media_id="gone", media_format="amr"))
    assert "再发一次" in missing.text
    assert (await chat.state()).flow == "rider"
