"""The menu entries and small turns around the request flows."""

from __future__ import annotations

from bot.types import InboundKind
from tests.handlers.harness import conversation, reading, scripted

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


async def test_the_human_menu_hands_over_to_staff() -> None:
    chat = conversation(scripted({}))
    reply = await chat.press("MENU_HUMAN")
    assert "转接人工服务" in reply.text and "预计等待约5分钟" in reply.text
    assert chat.desk is not None
    assert (await chat.desk.open_case(chat.key)) is not None


async def test_without_a_handoff_desk_the_human_menu_points_to_the_hotline() -> None:
    chat = conversation(scripted({}), handoff=False)
    reply = await chat.press("MENU_HUMAN")
    assert "12345" in reply.text


async def test_cancel_with_nothing_pending_says_so() -> None:
    chat = conversation(scripted({"取消": reading("cancel")}))
    reply = await chat.say("取消")
    assert reply.text == "好的。目前没有正在办理的事项。"


async def test_unreadable_voice_during_a_flow_asks_again_and_keeps_the_flow() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    reply = await chat.send(chat.message(InboundKind.VOICE, media_id="voice-1"))
    assert "语音没有识别出来" in reply.text
    assert (await chat.state()).awaiting == "phone"
    # The flow's question is still answered by what comes next.
    photos = await chat.say("不留")
    assert "照片" in photos.text


async def test_a_photo_before_any_request_is_kept_and_asks_for_words() -> None:
    chat = conversation(scripted({}))
    reply = await chat.send_photo("media-1")
    assert reply.text.startswith("照片已收到（共1张）")
    assert (await chat.state()).context["photos"] == [{"media_id": "media-1", "url": None}]


async def test_words_at_the_summary_that_say_nothing_are_not_added() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    await chat.say("不留")
    await chat.say("没有")
    reply = await chat.say("嗯嗯")
    assert reply.text.startswith("请点“确认提交”“修改”或“取消”。")
    cancelled = await chat.say("取消")
    assert cancelled.text == "已取消，本次内容没有提交。"
    assert chat.tickets.calls == []
