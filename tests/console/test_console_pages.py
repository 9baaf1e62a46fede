"""The queue and the conversation view through HTTP: SLA colours, who sees which
queue, claim / transfer / escalate / reply / hand back with CSRF, the WeChat
window, tickets from the chat, escaping, and the audit log."""

from __future__ import annotations

import re

import httpx

from bot.types import HandoffQueue, HandoffReason, HandoffStatus

from .conftest import OTHER_RESIDENT, RESIDENT, Console
from .support import csrf_in, open_case, page, post_form, resident_says, sign_in


def row_of(html: str, case_id: str) -> object:
    rows = [r for r in page(html).find_all("case-row") if r.attrs["data-case-id"] == case_id]
    return rows[0] if rows else None


async def test_the_queue_shows_waiting_time_in_sla_colours(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk, summary="楼道灯坏了，想找人工")
    colours = []
    for minutes in (0, 3, 3):  # 0 → green, 3 min → amber, 6 min → red
        console.clock.advance(minutes=minutes)
        html = (await agent.get("/console")).text
        row = page(html).find_all("case-row")[0]
        assert row.attrs["data-case-id"] == case.case_id
        wait = row.find("case-wait")
        colours.append(next(c for c in wait.classes if c.startswith("sla-")))
        assert wait.attrs["data-since"] == case.opened_at.isoformat()
        assert row.find("claim").attrs.get("type") == "submit"
        assert row.find("open-case").attrs["href"] == f"/console/cases/{case.case_id}"
        assert "楼道灯坏了" in row.find("case-summary").full_text
    assert colours == ["sla-green", "sla-amber", "sla-red"]
    assert page(html).find("case-wait").full_text == "6分00秒"


async def test_the_supervisor_queue_is_for_supervisors_only(console: Console) -> None:
    sensitive = await open_case(
        console.desk, reason=HandoffReason.SENSITIVE, summary="反映街道干部问题"
    )
    assert sensitive.queue is HandoffQueue.SUPERVISOR
    ordinary = await open_case(console.desk, OTHER_RESIDENT)
    async with console.client() as client:
        await sign_in(client, "agent1")
        html = (await client.get("/console")).text
        assert row_of(html, ordinary.case_id) is not None
        assert row_of(html, sensitive.case_id) is None
        assert 'data-testid="queue-supervisor"' not in html and "反映街道干部问题" not in html
        refused = await client.get(f"/console/cases/{sensitive.case_id}")
        assert refused.status_code == 404
        assert "反映街道干部问题" not in refused.text
        assert (await client.get("/console/audit")).status_code == 403
    for username in ("lead1", "disp", "admin"):
        async with console.client() as client:
            await sign_in(client, username)
            html = (await client.get("/console")).text
            assert row_of(html, sensitive.case_id) is not None, username
            assert row_of(html, ordinary.case_id) is not None, username
            assert (await client.get(f"/console/cases/{sensitive.case_id}")).status_code == 200


async def test_claim_reply_and_hand_back(console: Console, agent: httpx.AsyncClient) -> None:
    case = await open_case(console.desk)
    await resident_says(console, "我家楼下的路灯坏了一周了")
    claimed = await post_form(agent, "/console", f"/console/cases/{case.case_id}/claim")
    assert claimed.status_code == 303
    assert claimed.headers["location"] == f"/console/cases/{case.case_id}?done=claimed"
    view = await agent.get(claimed.headers["location"])
    doc = page(view.text)
    assert "已接入会话" in doc.find("notice").full_text
    assert doc.find("case-claimed-by").full_text == "坐席小王（agent1）"
    resident = [m for m in doc.find_all("message") if m.attrs["data-author"] == "resident"]
    assert resident[-1].find("message-text").full_text == "我家楼下的路灯坏了一周了"
    assert "complain" in resident[-1].find("message-intent").full_text
    assert len(doc.find_all("quick-reply")) == 10

    path = f"/console/cases/{case.case_id}"
    replied = await post_form(agent, path, f"{path}/reply", text="您好，我们马上联系路灯所。")
    assert replied.status_code == 303
    doc = page((await agent.get(replied.headers["location"])).text)
    staff = [m for m in doc.find_all("message") if m.attrs["data-author"] == "staff"]
    assert staff[-1].find("message-text").full_text == "您好，我们马上联系路灯所。"
    assert staff[-1].find("message-delivery").full_text  # 发送中 / 已送达渠道
    lines = await console.desk.history(RESIDENT)
    assert lines[-1].author == "staff:agent1" and lines[-1].delivery in ("queued", "sent")

    handed = await post_form(agent, path, f"{path}/hand-back", note="已答复，居民满意")
    assert handed.status_code == 303
    closed = await console.desk.get(case.case_id)
    assert closed.status is HandoffStatus.CLOSED and closed.closed_by == "agent1"
    doc = page((await agent.get(handed.headers["location"])).text)
    assert doc.find_all("case-closed") and not doc.find_all("reply-text")
    assert [m.event_key for m in console.events.messages] == [
        f"opened:{case.case_id}", f"closed:{case.case_id}"
    ]
    actions = [(e.staff, e.action, e.detail) for e in await console.desk.audit_log()]
    assert ("agent1", "claim", "") in actions
    assert ("agent1", "reply", "您好，我们马上联系路灯所。") in actions
    assert ("agent1", "hand_back", "已答复，居民满意") in actions


async def test_a_case_claimed_by_someone_else_cannot_be_taken(console: Console) -> None:
    case = await open_case(console.desk)
    await console.desk.claim(case.case_id, "agent2")
    async with console.client() as client:
        await sign_in(client, "agent1")
        path = f"/console/cases/{case.case_id}"
        doc = page((await client.get(path)).text)
        assert not doc.find_all("claim") and not doc.find_all("reply-text")
        assert "坐席小李" in doc.find("reply-locked").full_text
        assert not doc.find_all("transfer") and not doc.find_all("hand-back")
        refused = await post_form(client, path, f"{path}/claim")
        assert refused.status_code == 409
        assert "坐席小李" in page(refused.text).find("error").full_text or "agent2" in refused.text
        reply = await post_form(client, path, f"{path}/reply", text="插一句")
        assert reply.status_code == 409
        handed = await post_form(client, path, f"{path}/hand-back")
        assert handed.status_code == 403
    assert (await console.desk.get(case.case_id)).claimed_by == "agent2"
    assert all(e.staff != "agent1" or e.action == "sign_in" for e in await console.desk.audit_log())


async def test_transfer_to_a_colleague_and_to_the_supervisor_queue(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    path = f"/console/cases/{case.case_id}"
    await post_form(agent, "/console", f"{path}/claim")
    options = [o for o in page((await agent.get(path)).text).find("transfer-to").children
               if o.tag == "option"]
    values = [o.attrs["value"] for o in options]
    assert "staff:agent2" in values and "queue:supervisor" in values and "staff:dept" not in values
    assert "staff:agent1" not in values
    moved = await post_form(agent, path, f"{path}/transfer", to="staff:agent2")
    assert moved.status_code == 303 and moved.headers["location"] == "/console?done=transferred"
    assert (await console.desk.get(case.case_id)).claimed_by == "agent2"

    async with console.client() as client:
        await sign_in(client, "agent2")
        bad = await post_form(client, path, f"{path}/transfer", to="staff:nobody")
        assert bad.status_code == 400
        up = await post_form(client, path, f"{path}/transfer", to="queue:supervisor")
        assert up.status_code == 303
    moved_case = await console.desk.get(case.case_id)
    assert moved_case.queue is HandoffQueue.SUPERVISOR
    assert moved_case.status is HandoffStatus.WAITING and moved_case.claimed_by is None
    assert (await agent.get(path)).status_code == 404  # agents no longer see it
    transfers = [e for e in await console.desk.audit_log() if e.action == "transfer"]
    assert [e.staff for e in transfers] == ["agent2", "agent1"]


async def test_escalate_to_a_supervisor(console: Console, agent: httpx.AsyncClient) -> None:
    case = await open_case(console.desk)
    path = f"/console/cases/{case.case_id}"
    await post_form(agent, "/console", f"{path}/claim")
    escalated = await post_form(agent, path, f"{path}/escalate")
    assert escalated.status_code == 303
    assert escalated.headers["location"] == "/console?done=escalated"
    assert "会话已升级到值班长队列" in (await agent.get("/console?done=escalated")).text
    assert (await console.desk.get(case.case_id)).queue is HandoffQueue.SUPERVISOR
    async with console.client() as lead:
        await sign_in(lead, "lead1")
        html = (await lead.get("/console")).text
        section = page(html).find("queue-supervisor")
        [row] = section.find_all("case-row")
        assert row.attrs["data-case-id"] == case.case_id
        claimed = await post_form(lead, "/console", f"{path}/claim")
        assert claimed.status_code == 303
        doc = page((await lead.get(path)).text)
        assert not doc.find_all("escalate")  # already with supervisors
        assert doc.find_all("reply-send") and doc.find_all("hand-back")
    assert ("agent1", "escalate") in [(e.staff, e.action) for e in await console.desk.audit_log()]


async def test_a_closed_wechat_window_offers_a_subscribe_message(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    await resident_says(console, "在吗", open_window=False)  # no window: 48 h passed
    path = f"/console/cases/{case.case_id}"
    await post_form(agent, "/console", f"{path}/claim")
    doc = page((await agent.get(path)).text)
    notice = doc.find("window-closed")
    assert "48 小时" in notice.full_text
    assert doc.find("reply-send").attrs.get("disabled") is not None
    refused = await post_form(agent, path, f"{path}/reply", text="您好")
    assert refused.status_code == 409
    assert page(refused.text).find("subscribe-text").full_text == "您好"
    sent = await post_form(
        agent, path, f"{path}/subscribe", text="您好，您的问题已有答复，请回复本消息继续。"
    )
    assert sent.status_code == 303
    last = (await console.desk.history(RESIDENT))[-1]
    assert last.author == "staff:agent1" and last.delivery == "subscribe"
    assert ("agent1", "reply_by_subscribe") in [
        (e.staff, e.action) for e in await console.desk.audit_log()
    ]


async def test_a_ticket_from_the_chat(console: Console, agent: httpx.AsyncClient) -> None:
    case = await open_case(console.desk)
    await resident_says(console, "小区门口的井盖丢了，很危险", intent="report", category="城乡建设")
    path = f"/console/cases/{case.case_id}"
    await post_form(agent, "/console", f"{path}/claim")
    html = (await agent.get(path)).text
    doc = page(html)
    assert doc.find("no-tickets")
    assert doc.find("create-ticket").attrs["type"] == "button"
    form = re.search(r'<form[^>]*id="ticket-form"[^>]*>', html)
    assert form and re.search(r"\shidden[\s>]", form.group(0))
    assert re.search(r'<option value="report" selected>', html)
    assert 'name="category" value="城乡建设"' in html
    assert "小区门口的井盖丢了，很危险</textarea>" in html
    submission = re.search(r'name="submission_id" value="([^"]+)"', html)
    assert submission
    fields = {
        "csrf": csrf_in(html), "request_type": "report", "category": "城乡建设",
        "description": "小区门口的井盖丢了，很危险", "address": "幸福路 8 号",
        "submission_id": submission.group(1),
    }
    created = await agent.post(f"{path}/ticket", data=fields)
    assert created.status_code == 303
    assert created.headers["location"] == f"{path}?ticket=MH202603020001"
    again = await agent.post(f"{path}/ticket", data=fields)  # a double click
    assert again.headers["location"] == f"{path}?ticket=MH202603020001"
    [(key, draft, _)] = console.tickets.filed
    assert key == RESIDENT and draft.request_type == "report" and draft.address == "幸福路 8 号"
    doc = page((await agent.get(created.headers["location"])).text)
    tickets = doc.find("resident-tickets")
    assert [t.attrs["data-ticket-id"] for t in tickets.find_all("resident-ticket")] == [
        "MH202603020001"
    ]
    assert "MH202603020001" in doc.find("notice").full_text
    assert "MH202603020001" in doc.find("reply-text").full_text  # a reply to send, prefilled
    assert any(e.action == "ticket" and e.detail.startswith("MH202603020001")
               for e in await console.desk.audit_log())

    bad = await agent.post(f"{path}/ticket", data={**fields, "request_type": "nonsense",
                                                   "submission_id": "console-x-abcdefghij"})
    assert bad.status_code == 400
    assert "请选择诉求类型" in page(bad.text).find("ticket-error").full_text
    assert len(console.tickets.filed) == 1


async def test_residents_text_is_shown_as_text(
    console: Console, agent: httpx.AsyncClient
) -> None:
    script = "<script>alert(1)</script>"
    image = '<img src=x onerror="alert(2)">'
    case = await open_case(console.desk, summary=f"居民说：{script}")
    await resident_says(console, script)
    await resident_says(console, image)
    queue = (await agent.get("/console")).text
    assert script not in queue and "&lt;script&gt;alert(1)&lt;/script&gt;" in queue
    html = (await agent.get(f"/console/cases/{case.case_id}")).text
    assert script not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html
    texts = [m.find("message-text").full_text for m in page(html).find_all("message")]
    assert script in texts and image in texts  # as text, exactly what they typed


async def test_the_audit_log_shows_who_said_what_and_when(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    await resident_says(console, "你好")
    path = f"/console/cases/{case.case_id}"
    await post_form(agent, "/console", f"{path}/claim")
    await post_form(agent, path, f"{path}/reply", text="<b>您好</b>，请讲")
    async with console.client() as lead:
        await sign_in(lead, "lead1")
        html = (await lead.get("/console/audit")).text
        rows = page(html).find_all("audit-row")
        actions = [r.attrs["data-action"] for r in rows]
        assert actions[:4] == ["sign_in", "reply", "claim", "sign_in"]  # lead1, then agent1
        reply = rows[1]
        assert "坐席小王（agent1）" in reply.full_text
        assert reply.find("audit-detail").full_text == "<b>您好</b>，请讲"
        assert "<b>您好</b>" not in html and "2026-03-02 09:30:00" in html
        filtered = page((await lead.get(f"/console/audit?case={case.case_id}")).text)
        assert {r.attrs["data-action"] for r in filtered.find_all("audit-row")} == {
            "claim", "reply"
        }
        assert (await lead.get("/console/audit?case=<x>")).status_code == 200


async def test_an_active_case_times_the_residents_unanswered_message(
    console: Console, agent: httpx.AsyncClient
) -> None:
    case = await open_case(console.desk)
    await post_form(agent, "/console", f"/console/cases/{case.case_id}/claim")
    console.clock.advance(minutes=1)
    said = await resident_says(console, "还在吗？")
    console.clock.advance(minutes=4)
    partial = await agent.get("/console/queue/partial")
    assert partial.status_code == 200 and partial.text.startswith('<div id="queues"')
    assert "script-src 'self'" in partial.headers["content-security-policy"]
    row = page(partial.text).find("case-row")
    assert row.attrs["data-status"] == "active"
    wait = row.find("case-wait")
    assert wait.attrs["data-since"] == said.at.isoformat()
    assert "sla-amber" in wait.classes and wait.full_text == "4分00秒"
    assert "坐席小王" in row.find("case-status").full_text
    path = f"/console/cases/{case.case_id}"
    await post_form(agent, path, f"{path}/reply", text="在的，请讲。")
    wait = page((await agent.get("/console")).text).find("case-row").find("case-wait")
    assert "data-since" not in wait.attrs and "sla-green" in wait.classes
    assert wait.full_text == "已回复"
