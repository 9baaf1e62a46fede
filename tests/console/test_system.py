"""The console in the whole system: a resident in the simulator asks for a person, an
agent answers from /console, files a ticket from the chat, hands back, and the bot
answers again; a message sent while the console was away is there when it is back."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from tests.support import running_system

from .support import csrf_in, page, read_sse, sign_in

DEMO = "agent1:agent1-password:agent::坐席小王;lead1:lead1-password:supervisor::值班长"


async def test_a_resident_talks_to_an_agent_through_the_console(tmp_path: Path) -> None:
    async with running_system(
        tmp_path, staff_demo_accounts=DEMO, service_hours="always"
    ) as system:
        residents, http = system.residents, system.http
        told = await residents.send_text("zhang", "转人工")
        assert told is not None and "人工" in told
        await system.container.ingest.drain()
        [case] = await system.container.handoff.queue()

        assert (await sign_in(http, "agent1", "agent1-password")).status_code == 303
        queue = page((await http.get("/console")).text)
        [row] = queue.find_all("case-row")
        assert row.attrs["data-case-id"] == case.case_id
        assert "sla-green" in row.find("case-wait").classes

        html = (await http.get("/console")).text
        claimed = await http.post(f"/console/cases/{case.case_id}/claim",
                                  data={"csrf": csrf_in(html)})
        assert claimed.status_code == 303

        # While the case is open the bot stays silent; the agent sees the message.
        assert await residents.send_text("zhang", "<script>alert(1)</script>我家楼道灯坏了") is None
        await system.container.ingest.drain()
        path = f"/console/cases/{case.case_id}"
        view = (await http.get(path)).text
        assert "<script>alert(1)</script>" not in view
        texts = [m.find("message-text").full_text for m in page(view).find_all("message")]
        assert "<script>alert(1)</script>我家楼道灯坏了" in texts

        replied = await http.post(f"{path}/reply", data={
            "csrf": csrf_in(view), "text": "您好，我是坐席小王，马上为您登记。",
        })
        assert replied.status_code == 303
        push = await residents.wait_for_push("zhang", timeout=5)
        while "坐席小王" not in push.text:
            push = await residents.wait_for_push("zhang", timeout=5)
        assert push.text == "【人工客服】您好，我是坐席小王，马上为您登记。"
        # A page that still shows the reply as 发送中 hears that it went out.
        reply_id = max(e.entry_id for e in await system.container.handoff.history(case.key)
                       if e.author == "staff:agent1")
        delivered = await read_sse(
            system.app, http, f"/console/events?case={case.case_id}&watch={reply_id}",
            until=lambda r: bool(r.named("delivery")),
        )
        assert delivered.named("delivery")[0].data["delivery_label"] == "已送达渠道"

        view = (await http.get(path)).text
        submission = re.search(r'name="submission_id" value="([^"]+)"', view)
        assert submission
        filed = await http.post(f"{path}/ticket", data={
            "csrf": csrf_in(view), "request_type": "report", "category": "城乡建设",
            "description": "居民反映楼道灯损坏", "address": "幸福小区 3 栋",
            "submission_id": submission.group(1),
        })
        assert filed.status_code == 303
        number = filed.headers["location"].rsplit("=", 1)[1]
        assert re.fullmatch(r"MH\d+", number), filed.headers["location"]
        view = (await http.get(filed.headers["location"])).text
        assert number in page(view).find("resident-tickets").full_text

        # The agent adds what the resident says next to the ticket (the real
        # ticket desk and ticket system); a double click adds it once.
        [form] = page(view).find_all("ticket-supplement")
        assert form.attrs["data-ticket-id"] == number
        hidden = {c.attrs["name"]: c.attrs["value"] for c in form.children if c.tag == "input"}
        assert hidden["ticket_id"] == number
        supplement = {**hidden, "text": "二楼的灯也不亮"}
        for _ in range(2):
            added = await http.post(f"{path}/supplement", data=supplement)
            assert added.status_code == 303, added.text
        assert added.headers["location"] == f"{path}?supplemented={number}"
        database = system.storage.database
        assert database is not None
        notes = await database.run("supplements", lambda conn: list(conn.execute(text(
            "select note from workorder_events where kind = 'supplement'")).scalars()),
            write=False)
        assert notes == ["【人工客服代居民补充】二楼的灯也不亮"]
        audit = await system.container.handoff.audit_log(case_id=case.case_id)
        audited = [e.detail for e in audit if e.action == "supplement"]
        assert audited == [f"{number}：二楼的灯也不亮"]
        view = (await http.get(added.headers["location"])).text

        handed = await http.post(f"{path}/hand-back", data={"csrf": csrf_in(view)})
        assert handed.status_code == 303
        await system.container.ingest.drain()
        answer = await residents.send_text("zhang", "你好")
        assert answer  # the bot answers again


async def test_messages_sent_while_the_console_was_away_appear(tmp_path: Path) -> None:
    async with running_system(
        tmp_path, staff_demo_accounts=DEMO, service_hours="always"
    ) as system:
        residents, http = system.residents, system.http
        await residents.send_text("li", "转人工")
        await system.container.ingest.drain()
        [case] = await system.container.handoff.queue()
        await sign_in(http, "agent1", "agent1-password")
        path = f"/console/events?case={case.case_id}"
        first = await read_sse(system.app, http, path, until=lambda r: bool(r.named("ready")))
        cursor = first.named("ready")[0].id
        # The console is closed; the resident writes twice.
        await residents.send_text("li", "有人吗")
        await residents.send_text("li", "楼下在施工，噪音太大")
        await system.container.ingest.drain()
        back = await read_sse(
            system.app, http, path, last_event_id=cursor,
            until=lambda r: any("噪音" in e.data.get("text", "") for e in r.named("entry")),
        )
        said = [e.data["text"] for e in back.named("entry") if e.data["author_kind"] == "resident"]
        assert said == ["有人吗", "楼下在施工，噪音太大"]


async def test_a_new_escalation_reaches_the_telegram_staff_group(tmp_path: Path) -> None:
    from integrations.telegram.fake_bot_api import FakeBotAPI, FakeBotAPIServer
    from tests.telegram.support import SECRET, TOKEN

    group = "-1009876543210"
    fake = FakeBotAPI(token=TOKEN)
    with FakeBotAPIServer(fake) as base_url:
        async with running_system(
            tmp_path, service_hours="always", telegram_token=TOKEN, telegram_secret=SECRET,
            telegram_api_base=base_url, staff_telegram_chat_id=group,
        ) as system:
            await system.residents.send_text("zhao", "转人工")
            await system.container.ingest.drain()
            [case] = await system.container.handoff.queue()
            await fake.wait_for(lambda _: bool(fake.sent(group)), within=5)
    [call] = fake.sent(group)
    assert call.text.startswith("【民呼】新的转人工会话")
    assert case.case_id in call.text and "http://minhu.test/console" in call.text
    assert system.residents.openid("zhao") not in call.text
