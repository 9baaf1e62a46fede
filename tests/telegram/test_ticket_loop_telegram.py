"""The ticket loop from Telegram: intake with inline keyboards, staff on the
work-order pages, every status change back in the same chat, the rating."""

from __future__ import annotations

from pathlib import Path

from bot.types import RATING_LEVELS, TicketStatus
from integrations.telegram.fake_bot_api import FakeBotAPI
from tests.e2e.test_ticket_loop import DEMO_ACCOUNTS, TICKET_ID, service, staff_member, the_order
from tests.telegram.support import TelegramResident, telegram_system

Fake = tuple[FakeBotAPI, str]

# The button a resident presses when the scenario does not care about the question.
_DEFAULT_PRESSES = (
    ("请核对", "确认提交"),
    ("联系电话", "不留电话"),
    ("照片", "没有照片"),
    ("什么时候", "不清楚"),
)


async def file_from_telegram(resident: TelegramResident, first: str) -> str:
    """Say ``first``, then press through the questions until the bot confirms."""
    [reply] = await resident.say(first)
    for _ in range(8):
        if "工单编号" in reply:
            return reply
        press = next((title for cue, title in _DEFAULT_PRESSES if cue in reply), None)
        assert press is not None, f"the scenario has no answer for: {reply}"
        [reply] = await resident.press(press)
    raise AssertionError("the intake never ended")


async def test_a_complaint_from_telegram_goes_round_the_whole_loop(
    tmp_path: Path, fake_bot_api: Fake
) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base, staff_demo_accounts=DEMO_ACCOUNTS) as system:
        eve = TelegramResident(system, fake, 424242, "伊芙")
        [phone_question] = await eve.say(
            "幸福里小区3号楼门口的路灯坏了一个星期了，晚上黑得看不见路")
        assert "收到您的" in phone_question and "联系电话" in phone_question
        assert [t for t, _ in eve.last_keyboard().buttons()] == ["不留电话"]
        # Instead of typing it, the resident shares their number.
        await eve.send(eve.message(contact={"phone_number": "8613812345678",
                                            "first_name": "伊芙", "user_id": 424242}))
        [photos] = await eve.replies()
        assert "照片" in photos
        [summary] = await eve.press("没有照片")
        assert "请核对" in summary and "138****5678" in summary and "幸福里小区" in summary
        titles = [t for t, _ in eve.last_keyboard().buttons()]
        assert titles[0] == "确认提交" and "取消" in titles

        [filed] = await eve.press("确认提交")
        match = TICKET_ID.search(filed)
        assert match and "已为您登记" in filed, filed
        ticket_id = match.group(0)
        order = await the_order(system, ticket_id)
        assert order.status is TicketStatus.ACCEPTED and "路灯" in order.description
        assert order.phone == "13812345678"
        # Every press was answered, so no client is left with a spinner.
        await fake.wait_for(lambda calls: sum(
            c.method == "answerCallbackQuery" for c in calls) == 2)

        async with staff_member(system, "dispatcher", "minhu-demo-1") as dispatcher:
            await dispatcher.move(ticket_id, TicketStatus.DISPATCHED,
                                  department="housing_construction", note="请尽快核查修复")
        [dispatched] = await eve.replies()
        assert ticket_id in dispatched and "已派单" in dispatched and "住房和城乡建设" in dispatched

        async with staff_member(system, "zhujian", "minhu-demo-2") as department:
            await department.move(ticket_id, TicketStatus.IN_PROGRESS, note="已安排维修人员")
            [working] = await eve.replies()
            assert ticket_id in working and "正在办理中" in working and "已安排维修人员" in working
            await department.move(ticket_id, TicketStatus.FINISHED,
                                  note="路灯已更换，经现场测试恢复照明")
        [finished] = await eve.replies()
        assert ticket_id in finished and "已办结" in finished and "路灯已更换" in finished
        rating = eve.last_keyboard()
        assert [t for t, _ in rating.buttons()] == list(RATING_LEVELS)
        assert all(len(d.encode()) <= 64 for _, d in rating.buttons())
        # All of it in the one chat the request came from.
        assert {c.chat_id for c in fake.sent()} == {"424242"}

        [thanks] = await eve.press("满意", within=rating)
        assert "感谢您的评价（满意）" in thanks
        order = await the_order(system, ticket_id)
        assert order.rating == 4 and order.status is TicketStatus.FINISHED

        # One rating per matter, even when the old keyboard is pressed again.
        [again] = await eve.press("非常满意", within=rating)
        assert "只能评价一次" in again
        assert (await the_order(system, ticket_id)).rating == 4

        [listing] = await eve.say("/status")
        assert ticket_id in listing and "已办结" in listing
        [details] = await eve.press(ticket_id)
        assert f"工单编号：{ticket_id}" in details and "您的评价：满意" in details
        await eve.no_more_messages()


async def test_a_bad_rating_from_telegram_reopens_the_ticket(
    tmp_path: Path, fake_bot_api: Fake
) -> None:
    fake, base = fake_bot_api
    async with telegram_system(tmp_path, fake, base) as system:
        fu = TelegramResident(system, fake, 515151)
        filed = await file_from_telegram(fu, "和平路菜市场门口的下水道堵了，污水流到人行道上")
        ticket_id = TICKET_ID.findall(filed)[0]
        svc = service(system)
        await svc.transition(ticket_id, TicketStatus.DISPATCHED, actor="test")
        await svc.transition(ticket_id, TicketStatus.IN_PROGRESS, actor="test")
        await svc.transition(ticket_id, TicketStatus.FINISHED, actor="test", note="已疏通")
        pushes = await fu.replies(3)
        assert len(pushes) == 3 and "已疏通" in pushes[-1]
        [sorry] = await fu.press("非常不满意")
        assert "重办" in sorry
        order = await the_order(system, ticket_id)
        assert order.status is TicketStatus.REOPENED and order.rating == 1
        await fu.no_more_messages()
