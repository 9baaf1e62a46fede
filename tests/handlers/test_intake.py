"""The intake dialogue, as a resident goes through it."""

from __future__ import annotations

import pytest

from bot.types import EventKind, InboundKind, Location, OutboundMessage
from tests.handlers.harness import Conversation, conversation, reading, scripted

OIL_SMOKE = "我要投诉楼下饭店油烟太大，天天熏得开不了窗"
LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"


def titles(message: OutboundMessage) -> list[str]:
    return [b.title for b in message.buttons]


def payload_of(message: OutboundMessage, title: str) -> str:
    return next(b.payload for b in message.buttons if b.title == title)


async def confirm(chat: Conversation, summary: OutboundMessage) -> OutboundMessage:
    return await chat.press(payload_of(summary, "确认提交"), "确认提交")


# ---------------------------------------------------------------- asking only what is missing


async def test_complaint_with_place_and_time_asks_only_for_phone_and_photos() -> None:
    text = "投诉和平路12号的烧烤店昨天晚上一直吵到两点"
    chat = conversation(scripted({text: reading("complain", "环境保护")}))
    first = await chat.say(text)
    assert first.text.startswith("收到您的投诉（环境保护类）。")
    assert "联系电话" in first.text and titles(first) == ["不留电话"]
    photos = await chat.press(payload_of(first, "不留电话"), "不留电话")
    assert "照片" in photos.text and titles(photos) == ["没有照片"]
    summary = await chat.press(payload_of(photos, "没有照片"), "没有照片")
    assert "地点：和平路12号" in summary.text
    assert "时间：昨天晚上" in summary.text
    assert "联系电话：未留" in summary.text
    assert titles(summary) == ["确认提交", "修改", "取消"]


async def test_help_request_asks_place_then_time_then_phone_then_photos() -> None:
    text = "家里水管爆了，水一直往外冒，物业联系不上"
    chat = conversation(scripted({text: reading("seek_help", "城乡建设")}))
    where = await chat.say(text)
    assert "什么地方" in where.text and not where.buttons
    when = await chat.say("光明里小区5号楼2单元")
    assert "什么时候" in when.text and titles(when) == ["不清楚", "跳过"]
    phone = await chat.say("今天早上8点")
    assert "联系电话" in phone.text
    photos = await chat.say("13812345678")
    assert "照片" in photos.text
    summary = await chat.say("没有")
    assert "类型：求助（城乡建设）" in summary.text
    assert "地点：光明里小区5号楼2单元" in summary.text
    assert "时间：今天早上8点" in summary.text
    assert "联系电话：138****5678" in summary.text
    assert "13812345678" not in summary.text
    assert "照片：无" in summary.text
    assert chat.understanding.calls == [text]


async def test_phone_in_the_first_message_is_not_asked_again() -> None:
    text = "幸福里小区门口井盖丢了，很危险，我电话13912345678"
    chat = conversation(scripted({text: reading("seek_help", "城乡建设", phone="13912345678")}))
    when = await chat.say(text)
    assert "什么时候" in when.text
    photos = await chat.press(payload_of(when, "不清楚"), "不清楚")
    assert "照片" in photos.text
    summary = await chat.press(payload_of(photos, "没有照片"), "没有照片")
    assert "时间：不清楚" in summary.text
    assert "联系电话：139****5678" in summary.text


async def test_a_bare_request_asks_what_happened_first() -> None:
    chat = conversation(scripted({"我要举报": reading("report")}))
    first = await chat.say("我要举报")
    assert first.text.startswith("好的，我来帮您登记举报。")
    assert "举报的具体情况" in first.text
    where = await chat.say("有人在河边偷倒建筑垃圾")
    assert "什么地方" in where.text


async def test_suggestion_asks_place_once_and_lets_it_be_skipped() -> None:
    text = "建议社区多组织一些老年人的文体活动"
    chat = conversation(scripted({text: reading("suggest", "民政")}))
    place = await chat.say(text)
    assert "涉及具体地点" in place.text and titles(place) == ["跳过"]
    phone = await chat.say("跳过")
    assert "联系电话" in phone.text
    summary = await chat.say("不留")
    assert "类型：建议（民政）" in summary.text
    assert "地点：未填写" in summary.text
    assert "照片" not in summary.text and "时间" not in summary.text
    filed = await confirm(chat, summary)
    assert "工单编号MH202611230001" in filed.text
    draft = chat.tickets.calls[0][1]
    assert draft.request_type == "suggest" and draft.address is None


async def test_praise_asks_who_is_praised() -> None:
    text = "表扬社区的王书记，帮我家老人办好了助餐卡，特别耐心"
    chat = conversation(scripted({text: reading("praise")}))
    target = await chat.say(text)
    assert "哪个单位或哪位工作人员" in target.text
    phone = await chat.say("幸福里社区居委会")
    assert "联系电话" in phone.text
    summary = await chat.press(payload_of(phone, "不留电话"), "不留电话")
    assert "表扬对象：幸福里社区居委会" in summary.text
    await confirm(chat, summary)
    assert chat.tickets.calls[0][1].description.endswith("表扬对象：幸福里社区居委会")


# ---------------------------------------------------------------- anonymity


async def test_a_report_offers_anonymity_with_anonymous_first_and_then_skips_the_phone() -> None:
    text = "举报和平路88号有人无证经营黑网吧，昨天晚上还有未成年人进出"
    chat = conversation(scripted({text: reading("report", "商贸旅游")}))
    anonymous = await chat.say(text)
    assert "是否匿名举报" in anonymous.text
    assert titles(anonymous) == ["匿名（推荐）", "不匿名"]
    # "1" picks the first option where buttons do not show.
    photos = await chat.say("1")
    assert "照片" in photos.text and "联系电话" not in photos.text
    summary = await chat.press(payload_of(photos, "没有照片"), "没有照片")
    assert "匿名：是" in summary.text
    await confirm(chat, summary)
    draft = chat.tickets.calls[0][1]
    assert draft.anonymous is True and draft.phone is None


async def test_a_report_can_be_named_and_then_asks_the_phone() -> None:
    text = "举报和平路88号有人无证经营"
    chat = conversation(scripted({text: reading("report")}))
    await chat.say(text)
    when = await chat.say("不清楚")
    assert "是否匿名" in when.text
    phone = await chat.say("不匿名")
    assert "联系电话" in phone.text


async def test_complaint_offers_anonymity_in_the_summary() -> None:
    text = "投诉和平路12号的烧烤店昨天晚上一直吵到两点"
    chat = conversation(scripted({text: reading("complain")}))
    await chat.say(text)
    await chat.say("不留")
    summary = await chat.say("没有")
    assert "匿名：否（如需匿名，回复“匿名”）" in summary.text
    changed = await chat.say("匿名吧")
    assert changed.text.startswith("已改为匿名。") and "匿名：是" in changed.text
    back = await chat.say("不用匿名")
    assert "匿名：否" in back.text
    await confirm(chat, back)
    assert chat.tickets.calls[0][1].anonymous is False


async def test_help_requests_are_not_offered_anonymity() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    await chat.say("不留")
    summary = await chat.say("没有")
    assert "匿名" not in summary.text
    reply = await chat.say("匿名")
    assert reply.text.startswith("请点“确认提交”“修改”或“取消”。")
    assert "匿名：" not in reply.text


# ---------------------------------------------------------------- phone numbers


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("13812345678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("010-12345678", "010-****5678"),
        ("075512345678", "0755****5678"),
        ("我的手机是13912345678", "139****5678"),
    ],
)
async def test_phone_numbers_are_accepted_in_their_usual_forms(typed: str, shown: str) -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    await chat.say(typed)
    summary = await chat.say("没有")
    assert f"联系电话：{shown}" in summary.text


@pytest.mark.parametrize("typed", ["1381234567", "12345678901", "138123456789", "电话等会儿再说"])
async def test_a_wrong_number_gets_a_clear_re_ask(typed: str) -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    reply = await chat.say(typed)
    assert reply.text.startswith("这个号码好像不对。")
    assert titles(reply) == ["不留电话"]
    assert (await chat.state()).awaiting == "phone"


async def test_no_phone_can_be_said_in_words() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    photos = await chat.say("不想留")
    assert "照片" in photos.text


# ---------------------------------------------------------------- photos and locations


async def test_photos_sent_before_and_during_the_flow_go_with_the_request() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.send_photo("media-before", "https://img.example/before.jpg")
    await chat.say(LAMP)
    # Photos are already there: the photo question is not asked.
    summary = await chat.say("不留")
    assert "照片：1张" in summary.text
    more = await chat.send_photo("media-during")
    assert more.text.startswith("照片已收到（共2张）。") and "请核对" in more.text
    await confirm(chat, more)
    draft = chat.tickets.calls[0][1]
    assert draft.photos == ("https://img.example/before.jpg", "media-during")
    assert "photos" not in (await chat.state()).context


async def test_the_photo_question_collects_until_done_and_stops_at_nine() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    asked = await chat.say("不留")
    assert titles(asked) == ["没有照片"]
    for number in range(1, 10):
        reply = await chat.send_photo(f"m{number}")
        assert f"已有{number}张照片" in reply.text
    assert titles(reply) == ["照片发完了", "清空照片"]
    tenth = await chat.send_photo("m10")
    assert "最多保留9张照片" in tenth.text
    summary = await chat.press(payload_of(reply, "照片发完了"), "照片发完了")
    assert "照片：9张" in summary.text


async def test_a_location_answers_where() -> None:
    text = "路边有一棵大树倒了，挡住了半边路"
    chat = conversation(scripted({text: reading("seek_help", "城乡建设")}))
    where = await chat.say(text)
    assert "什么地方" in where.text
    when = await chat.send_location(31.2304, 121.4737, "人民广场地铁站2号口")
    assert when.text.startswith("位置已记下：人民广场地铁站2号口。")
    assert "什么时候" in when.text
    await chat.say("刚才")
    summary = await chat.say("不留")
    summary = await chat.say("没有")
    assert "地点：人民广场地铁站2号口" in summary.text
    await confirm(chat, summary)
    draft = chat.tickets.calls[0][1]
    assert draft.location is not None and draft.location.latitude == pytest.approx(31.2304)


async def test_a_location_sent_before_the_request_fills_the_place() -> None:
    text = "这里的垃圾桶满了好几天没人清"
    chat = conversation(scripted({text: reading("complain", "城乡建设")}))
    await chat.send_location(39.9, 116.4, "和平路12号")
    when = await chat.say(text)
    assert "什么时候" in when.text


async def test_an_automatic_location_report_never_fills_the_place() -> None:
    text = "这里的垃圾桶满了好几天没人清"
    chat = conversation(scripted({text: reading("complain")}))
    report = chat.message(InboundKind.EVENT, event=EventKind.LOCATION,
                          location=Location(39.9, 116.4))
    await chat.ingest.submit(report, passive_budget=2.0)
    where = await chat.say(text)
    assert "什么地方" in where.text


# ---------------------------------------------------------------- the summary


async def _at_summary(chat: Conversation, text: str = LAMP) -> OutboundMessage:
    await chat.say(text)
    await chat.say("13812345678")
    return await chat.say("没有")


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("地址不对，是和平路12号", "地点：和平路12号"),
        ("电话改成13912345678", "联系电话：139****5678"),
        ("时间是昨天下午", "时间：昨天下午"),
        ("地点应该是光明里小区", "地点：光明里小区"),
        ("13700001111", "联系电话：137****1111"),
    ],
)
async def test_corrections_in_free_text_update_the_summary(said: str, expected: str) -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await _at_summary(chat)
    corrected = await chat.say(said)
    assert expected in corrected.text
    assert corrected.text.startswith("已修改")
    assert titles(corrected) == ["确认提交", "修改", "取消"]


async def test_a_wrong_number_in_a_correction_keeps_the_old_one() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await _at_summary(chat)
    reply = await chat.say("电话改成12345")
    assert reply.text.startswith("这个号码好像不对，电话没有修改。")
    assert "联系电话：138****5678" in reply.text


async def test_other_text_at_the_summary_is_added_to_the_description() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await _at_summary(chat)
    added = await chat.say("晚上走路的老人很多，很不安全")
    assert added.text.startswith("已把这段话补充到诉求内容中。")
    await confirm(chat, added)
    description = chat.tickets.calls[0][1].description
    assert description == f"{LAMP}\n补充：晚上走路的老人很多，很不安全"


async def test_edit_by_buttons_changes_one_field_and_returns_to_the_summary() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    summary = await _at_summary(chat)
    menu = await chat.press(payload_of(summary, "修改"), "修改")
    assert titles(menu) == ["内容", "地点", "时间", "联系电话", "照片", "诉求类型", "不改了"]
    asked = await chat.say("4")  # 联系电话
    assert "联系电话" in asked.text
    summary = await chat.press(payload_of(asked, "不留电话"), "不留电话")
    assert "联系电话：未留" in summary.text
    menu = await chat.press(payload_of(summary, "修改"), "修改")
    kinds = await chat.press(payload_of(menu, "诉求类型"), "诉求类型")
    assert titles(kinds) == ["求助", "投诉", "举报", "建议", "咨询", "表扬"]
    # Now a report: the anonymity question it needs is asked before the summary.
    anonymous = await chat.press(payload_of(kinds, "举报"), "举报")
    assert anonymous.text.startswith("好的，按举报登记。") and "是否匿名" in anonymous.text
    summary = await chat.press(payload_of(anonymous, "不匿名"), "不匿名")
    assert "类型：举报" in summary.text
    assert "请核对" in summary.text


async def test_the_edit_menu_can_be_left_unchanged() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    summary = await _at_summary(chat)
    menu = await chat.press(payload_of(summary, "修改"), "修改")
    back = await chat.press(payload_of(menu, "不改了"), "不改了")
    assert back.text == summary.text


# ---------------------------------------------------------------- cancelling


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
@pytest.mark.parametrize("words", ["取消", "算了", "不办了"])
async def test_cancel_words_end_the_flow_at_any_question(stage: int, words: str) -> None:
    text = "举报和平路88号有人无证经营"
    chat = conversation(scripted({text: reading("report")}))
    await chat.say(text)
    for answer in ["不清楚", "不匿名", "不留"][:stage]:
        await chat.say(answer)
    reply = await chat.say(words)
    assert reply.text == "已取消，本次内容没有提交。"
    state = await chat.state()
    assert state.flow is None and state.slots == {}
    assert chat.tickets.calls == []


async def test_cancel_button_at_the_summary() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    summary = await _at_summary(chat)
    reply = await chat.say("3")  # the third option: 取消
    assert reply.text == "已取消，本次内容没有提交。"
    assert chat.tickets.calls == []
    # The old summary's confirm button does nothing now.
    stale = await chat.press(payload_of(summary, "确认提交"), "确认提交")
    assert "已经结束" in stale.text
    assert chat.tickets.calls == []


async def test_no_thanks_at_an_optional_question_skips_rather_than_cancels() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await chat.say(LAMP)
    photos = await chat.say("不用了")
    assert "照片" in photos.text
    assert (await chat.state()).flow == "intake"


async def test_cancel_intent_before_any_question() -> None:
    chat = conversation(scripted({"我要反映": reading("report_start"), "算了": reading("cancel")}))
    prompt = await chat.press("MENU_REPORT")
    assert "描述" in prompt.text
    reply = await chat.say("算了")
    assert reply.text == "已取消，本次内容没有提交。"


# ---------------------------------------------------------------- the menu entry


async def test_menu_report_reads_the_next_message_with_nlu() -> None:
    chat = conversation(scripted({OIL_SMOKE: reading("complain", "环境保护")}))
    prompt = await chat.press("/report_start", "我要反映")
    assert "描述" in prompt.text
    where = await chat.say(OIL_SMOKE)
    assert "投诉" in where.text and "环境保护" in where.text
    assert "什么地方" in where.text


async def test_menu_report_with_an_unclassified_description_asks_the_type() -> None:
    text = "我们楼后面那块空地一直堆着东西"
    chat = conversation(scripted({text: reading("out_of_scope", confidence=0.7)}))
    await chat.press("MENU_REPORT")
    kinds = await chat.say(text)
    assert kinds.text.startswith("好的，已记下。")
    where = await chat.say("2")  # 投诉
    assert where.text.startswith("好的，按投诉登记。") and "什么地方" in where.text


# ---------------------------------------------------------------- filing


async def test_confirming_files_the_collected_draft() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help", "城乡建设")}))
    summary = await _at_summary(chat)
    filed = await confirm(chat, summary)
    assert filed.text == (
        "已为您登记，工单编号MH202611230001，由区城市管理委员会承办，"
        "预计11月24日 18:00前答复。办理进展会在这里通知您。"
    )
    submission_id, draft = chat.tickets.calls[0]
    assert len(submission_id) == 32 and int(submission_id, 16) >= 0
    assert draft.request_type == "seek_help" and draft.category == "城乡建设"
    assert draft.description == LAMP
    assert draft.address == "幸福里小区3号楼门口"
    assert draft.occurred_at == "昨天晚上"
    assert draft.phone == "13812345678"
    assert draft.urgent is False and draft.anonymous is False
    state = await chat.state()
    assert state.flow is None and state.awaiting is None


async def test_confirming_in_words() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await _at_summary(chat)
    filed = await chat.say("确认")
    assert "工单编号MH202611230001" in filed.text


async def test_a_retried_confirming_turn_files_once() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await _at_summary(chat)
    # The turn's commit loses to another replica twice: the turn runs three times.
    chat.store.failures_left = 2
    message = chat.message(InboundKind.TEXT, text="确认提交", payload="INTAKE:confirm")
    first = await chat.send(message)
    # WeChat redelivers the same message: answered from the journal.
    again = await chat.send(message)
    assert len(chat.tickets.calls) == 3
    assert len({sid for sid, _ in chat.tickets.calls}) == 1
    assert len(chat.tickets.records) == 1
    assert first.text == again.text and "MH202611230001" in first.text


async def test_two_confirmed_requests_are_two_tickets() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    await _at_summary(chat)
    await chat.say("确认")
    await _at_summary(chat)
    second = await chat.say("确认")
    assert "MH202611230002" in second.text


async def test_backend_down_says_the_number_follows() -> None:
    chat = conversation(scripted({LAMP: reading("seek_help")}))
    chat.tickets.down = True
    await _at_summary(chat)
    filed = await chat.say("确认")
    assert filed.text == "您的诉求已收到，正在登记，工单编号稍后发给您。"
    assert len(chat.tickets.records) == 1
