"""我的诉求, supplementing and withdrawing."""

from __future__ import annotations

from bot.types import TicketStatus
from tests.handlers.harness import Conversation, conversation, reading, scripted

LAMP = "幸福里小区3号楼门口的路灯昨天晚上开始不亮了"
NOISE = "投诉和平路12号的烧烤店昨天晚上一直吵到两点"


def chat_with_tickets() -> Conversation:
    return conversation(scripted({
        LAMP: reading("seek_help", "城乡建设"),
        NOISE: reading("complain", "环境保护"),
        "我的诉求进度": reading("query_status"),
        "查一下MH202611230001": reading("query_status", ticket_id="MH202611230001"),
        "MH202611230002办到哪了": reading("query_status"),
        "我要补充材料": reading("supplement"),
        "补充一下：灯杆上的电线也掉下来了": reading("supplement"),
        "我要撤回": reading("withdraw"),
        "撤回MH202611230001": reading("withdraw"),
    }))


async def file(chat: Conversation, text: str) -> str:
    await chat.say(text)
    await chat.say("不留")
    await chat.say("没有")
    await chat.say("确认")
    return max(r.ticket_id or "" for r in chat.tickets.filed())


# ---------------------------------------------------------------- 我的诉求


async def test_my_requests_lists_newest_first_with_pending_ones() -> None:
    chat = chat_with_tickets()
    first = await file(chat, LAMP)
    chat.tickets.advance(first, TicketStatus.DISPATCHED)
    chat.tickets.down = True
    await file(chat, NOISE)
    listing = await chat.press("MENU_MY_TICKETS", "我的诉求")
    lines = listing.text.splitlines()
    assert lines[0] == "您最近的诉求（最新的在前）："
    assert lines[1].startswith("1. 编号待发 投诉：投诉和平路12号的烧烤店…")
    assert lines[2].strip().startswith("登记中 · ")
    assert lines[3].startswith(f"2. {first} 求助：幸福里小区3号楼门口的路…")
    assert lines[4].strip().startswith("已派单 · 11月23日")
    assert [b.payload for b in listing.buttons] == [f"TICKET:{first}"]


async def test_nobody_has_requests_at_first() -> None:
    chat = chat_with_tickets()
    reply = await chat.say("我的诉求进度")
    assert reply.text == "您在本平台还没有已登记的诉求。"


async def test_a_ticket_opens_with_its_timeline() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    chat.tickets.advance(ticket_id, TicketStatus.DISPATCHED, note="已派区城管委")
    chat.tickets.advance(ticket_id, TicketStatus.IN_PROGRESS, note="维修人员已到场")
    details = await chat.press(f"TICKET:{ticket_id}", ticket_id)
    text = details.text
    assert f"工单编号：{ticket_id}" in text
    assert "类型：求助（城乡建设）" in text and "状态：办理中" in text
    assert "承办部门：区城市管理委员会" in text
    assert "预计答复：11月24日 18:00前" in text
    assert "· 11月23日 10:00 受理" in text
    assert "· 11月23日 12:00 已派单（区城市管理委员会）：已派区城管委" in text
    assert "· 11月23日 14:00 办理中（区城市管理委员会）：维修人员已到场" in text
    assert [b.title for b in details.buttons] == ["补充材料", "撤回诉求", "我的诉求"]


async def test_a_number_in_the_text_opens_that_ticket() -> None:
    chat = chat_with_tickets()
    await file(chat, LAMP)
    by_entity = await chat.say("查一下MH202611230001")
    assert "工单编号：MH202611230001" in by_entity.text
    second = await file(chat, NOISE)
    by_text = await chat.say(f"{second}办到哪了")
    assert f"工单编号：{second}" in by_text.text


async def test_someone_elses_ticket_is_not_found() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    neighbour = chat.as_neighbour()
    reply = await neighbour.press(f"TICKET:{ticket_id}", ticket_id)
    assert reply.text == "没有找到这个工单，请核对工单编号。"
    unknown = await chat.press("TICKET:MH209912310001", "MH209912310001")
    assert unknown.text == "没有找到这个工单，请核对工单编号。"


# ---------------------------------------------------------------- supplementing


async def test_supplement_to_the_only_open_ticket_asks_for_the_content() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    asked = await chat.say("我要补充材料")
    assert asked.text.startswith(f"请发送要补充到工单{ticket_id}的内容")
    photo = await chat.send_photo("media-pole")
    assert "照片已收到（共1张）" in photo.text
    done = await chat.say("灯杆底座也松了")
    assert done.text == (
        f"已把补充内容和1张照片交给承办部门（工单{ticket_id}），办理进展会在这里通知您。"
    )
    (supplement,) = chat.tickets.supplements
    assert supplement.text == "灯杆底座也松了" and supplement.photos == ("media-pole",)
    assert (await chat.state()).flow is None


async def test_supplement_with_the_content_in_the_first_message_is_sent_at_once() -> None:
    chat = chat_with_tickets()
    await file(chat, LAMP)
    done = await chat.say("补充一下：灯杆上的电线也掉下来了")
    assert done.text.startswith("已把补充内容交给承办部门")
    assert chat.tickets.supplements[0].text == "灯杆上的电线也掉下来了"


async def test_supplement_with_several_open_tickets_asks_which() -> None:
    chat = chat_with_tickets()
    first = await file(chat, LAMP)
    second = await file(chat, NOISE)
    which = await chat.say("我要补充材料")
    assert which.text == "您有2件诉求正在办理，请问要补充哪一件？"
    assert [b.payload for b in which.buttons] == [f"SUPPLEMENT:{second}", f"SUPPLEMENT:{first}"]
    asked = await chat.say("2")
    assert f"工单{first}" in asked.text
    await chat.say("灯杆底座也松了")
    assert chat.tickets.supplements[0].ticket_id == first


async def test_supplement_unsupported_by_the_backend_points_to_the_hotline() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    chat.tickets.can_supplement = False
    await chat.say("我要补充材料")
    reply = await chat.say("灯杆底座也松了")
    assert "不支持在线补充材料" in reply.text and "12345" in reply.text
    assert ticket_id in reply.text


async def test_supplement_refused_by_the_backend_says_why() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    await chat.say("我要补充材料")
    # Finished meanwhile: the backend refuses, and says why.
    chat.tickets.advance(ticket_id, TicketStatus.FINISHED)
    reply = await chat.say("灯杆底座也松了")
    assert reply.text == "这次补充没有成功：工单已办结，不能再补充。"


async def test_a_finished_ticket_is_not_offered_for_supplements() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    chat.tickets.advance(ticket_id, TicketStatus.FINISHED)
    reply = await chat.say("我要补充材料")
    assert reply.text == "您目前没有正在办理、可以补充的诉求。"
    named = await chat.press(f"SUPPLEMENT:{ticket_id}", "补充材料")
    assert named.text == f"工单{ticket_id}目前已办结，不能再补充。"


# ---------------------------------------------------------------- withdrawing


async def test_withdraw_confirms_first() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    confirm = await chat.say("我要撤回")
    about = "（求助：幸福里小区3号楼门口的路…）"
    assert confirm.text.startswith(f"确定要撤回工单{ticket_id}{about}吗？")
    assert [b.title for b in confirm.buttons] == ["确认撤回", "不撤回"]
    done = await chat.say("1")
    assert done.text == f"已撤回工单{ticket_id}。如有需要，可以随时重新反映。"
    assert chat.tickets.tickets[ticket_id].status is TicketStatus.WITHDRAWN
    # The dialogue gives no reason: the desk sends its standard wording.
    assert chat.tickets.withdraw_reasons == [None]


async def test_withdraw_can_be_called_off() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    await chat.say("撤回MH202611230001")
    kept = await chat.say("不撤回")
    assert kept.text == "好的，不撤回，您的诉求会继续办理。"
    await chat.say("我要撤回")
    kept = await chat.say("算了")
    assert kept.text == "好的，不撤回，您的诉求会继续办理。"
    assert chat.tickets.tickets[ticket_id].status is TicketStatus.ACCEPTED


async def test_withdraw_refused_by_the_backend_says_why() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    confirm = await chat.say("我要撤回")
    chat.tickets.advance(ticket_id, TicketStatus.FINISHED)
    reply = await chat.press(confirm.buttons[0].payload, "确认撤回")
    assert reply.text == "这件诉求没能撤回：工单已办结，不能撤回。"


async def test_someone_elses_ticket_cannot_be_withdrawn() -> None:
    chat = chat_with_tickets()
    ticket_id = await file(chat, LAMP)
    reply = await chat.as_neighbour().press(f"WITHDRAW_CONFIRM:{ticket_id}", "确认撤回")
    assert reply.text == "没有找到这个工单，请核对工单编号。"
    assert chat.tickets.tickets[ticket_id].status is TicketStatus.ACCEPTED
