"""Updating a ticket from the chat: staff add a supplement to one of the
resident's open tickets through the Tickets port (once per form, however often
it is posted), it is audited, and someone else's or a finished ticket is refused."""

from __future__ import annotations

import httpx

from bot.errors import BackendRejected, BackendUnavailable, UnsupportedByBackend
from bot.types import ConversationKey, HandoffCase, TicketDraft, TicketStatus
from integrations.console.web import SUPPLEMENT_PREFIX

from .conftest import OTHER_RESIDENT, RESIDENT, Console
from .support import Element, csrf_in, open_case, page, post_form, sign_in

DRAFT = TicketDraft(request_type="report", category="城乡建设", description="楼道灯坏了")


async def file(console: Console, key: ConversationKey = RESIDENT, number: int = 1) -> str:
    result = await console.tickets.submit(key, DRAFT, submission_id=f"bot-{key.user}-{number}")
    assert result.ticket_id is not None
    return result.ticket_id


def fields_of(form: Element) -> dict[str, str]:
    """The form's inputs by name (hidden ones included), as a browser would post them."""
    found: dict[str, str] = {}

    def walk(element: Element) -> None:
        if element.tag == "input" and "name" in element.attrs:
            found[element.attrs["name"]] = element.attrs.get("value", "")
        for child in element.children:
            walk(child)

    walk(form)
    return found


def supplement_forms(html: str) -> dict[str, Element]:
    return {f.attrs["data-ticket-id"]: f for f in page(html).find_all("ticket-supplement")}


async def claimed_case(console: Console, agent: httpx.AsyncClient) -> tuple[HandoffCase, str]:
    case = await open_case(console.desk)
    path = f"/console/cases/{case.case_id}"
    assert (await post_form(agent, "/console", f"{path}/claim")).status_code == 303
    return case, path


async def test_a_supplement_goes_to_the_residents_open_ticket_once(
    console: Console, agent: httpx.AsyncClient
) -> None:
    open_one = await file(console, number=1)
    finished = await file(console, number=2)
    console.tickets.statuses[finished] = TicketStatus.FINISHED
    case, path = await claimed_case(console, agent)

    html = (await agent.get(path)).text
    forms = supplement_forms(html)
    assert list(forms) == [open_one]  # only tickets still being worked on
    form = forms[open_one]
    assert form.attrs["action"] == f"{path}/supplement" and form.attrs["method"] == "post"
    fields = fields_of(form)
    assert fields["ticket_id"] == open_one and fields["csrf"] == csrf_in(html)
    assert fields["submission_id"].startswith(f"console-{case.case_id}-sup-")
    assert form.find("supplement-text").tag == "textarea"
    assert form.find("supplement-submit").attrs["type"] == "submit"

    posted = {**fields, "text": "居民补充：3 楼和 4 楼的灯都不亮"}
    done = await agent.post(f"{path}/supplement", data=posted)
    assert done.status_code == 303
    assert done.headers["location"] == f"{path}?supplemented={open_one}"
    again = await agent.post(f"{path}/supplement", data=posted)  # a double click
    assert again.status_code == 303

    [(key, ticket_id, text, submission_id)] = console.tickets.supplements
    assert (key, ticket_id, submission_id) == (RESIDENT, open_one, fields["submission_id"])
    assert text == SUPPLEMENT_PREFIX + "居民补充：3 楼和 4 楼的灯都不亮"
    audited = [e for e in await console.desk.audit_log(case_id=case.case_id)
               if e.action == "supplement"]
    assert [(e.staff, e.detail) for e in audited] == [
        ("agent1", f"{open_one}：居民补充：3 楼和 4 楼的灯都不亮")
    ]

    shown = page((await agent.get(done.headers["location"])).text)
    assert f"已向工单 {open_one} 补充材料" in shown.find("notice").full_text
    assert open_one in shown.find("reply-text").full_text  # a reply to send, prefilled
    # A fresh form has a fresh id: the next supplement is a new one.
    assert fields_of(supplement_forms(
        (await agent.get(path)).text)[open_one])["submission_id"] != fields["submission_id"]

    # The audit log page names the action in words.
    async with console.client() as lead:
        await sign_in(lead, "lead1")
        audit = page((await lead.get("/console/audit")).text)
        rows = [r for r in audit.find_all("audit-row") if r.attrs["data-action"] == "supplement"]
        assert len(rows) == 1 and "补充工单材料" in rows[0].full_text


async def test_another_residents_ticket_is_refused(
    console: Console, agent: httpx.AsyncClient
) -> None:
    await file(console)
    theirs = await file(console, OTHER_RESIDENT, number=9)
    _, path = await claimed_case(console, agent)
    html = (await agent.get(path)).text
    fields = fields_of(next(iter(supplement_forms(html).values())))

    refused = await agent.post(f"{path}/supplement", data={
        **fields, "ticket_id": theirs, "text": "想补充到别人的工单",
    })
    assert refused.status_code == 404
    assert f"工单 {theirs} 不是这位居民的工单" in page(refused.text).find("error").full_text
    assert console.tickets.supplements == []
    assert not [e for e in await console.desk.audit_log() if e.action == "supplement"]


async def test_a_finished_or_closed_ticket_is_refused_in_words(
    console: Console, agent: httpx.AsyncClient
) -> None:
    number = await file(console)
    _, path = await claimed_case(console, agent)
    html = (await agent.get(path)).text
    fields = {**fields_of(supplement_forms(html)[number]), "text": "还有一点情况"}
    # The department finishes it while the page is open.
    for status in (TicketStatus.FINISHED, TicketStatus.CLOSED, TicketStatus.WITHDRAWN):
        console.tickets.statuses[number] = status
        refused = await agent.post(f"{path}/supplement", data=fields)
        assert refused.status_code == 409
        doc = page(refused.text)
        assert doc.find("error").full_text == (
            f"工单 {number} 当前状态为“{status.value}”，已不能补充材料；"
            "如有新情况，请为居民新建工单。"
        )
        assert supplement_forms(refused.text) == {}  # and no form for it any more
    assert console.tickets.supplements == []


async def test_a_supplement_needs_the_case_the_words_and_the_token(
    console: Console, agent: httpx.AsyncClient
) -> None:
    number = await file(console)
    case = await open_case(console.desk)
    path = f"/console/cases/{case.case_id}"
    html = (await agent.get(path)).text
    assert supplement_forms(html) == {}  # not claimed yet: no form
    form = {"csrf": csrf_in(html), "ticket_id": number, "text": "补充",
            "submission_id": f"console-{case.case_id}-sup-abcdefghijkl"}

    waiting = await agent.post(f"{path}/supplement", data=form)
    assert waiting.status_code == 403
    assert "请先接入会话" in page(waiting.text).find("error").full_text

    await post_form(agent, "/console", f"{path}/claim")
    empty = await agent.post(f"{path}/supplement", data={**form, "text": "  "})
    assert empty.status_code == 400
    doc = page(empty.text)
    assert "请填写补充内容" in doc.find("supplement-error").full_text
    assert '<details class="supplement" open>' in empty.text  # the form stays open
    no_token = await agent.post(f"{path}/supplement", data={**form, "csrf": "wrong"})
    assert no_token.status_code == 403

    async with console.client() as other:
        await sign_in(other, "agent2")
        html = (await other.get(path)).text
        assert supplement_forms(html) == {}  # agent1 has the case
        theirs = await other.post(f"{path}/supplement", data={**form, "csrf": csrf_in(html)})
        assert theirs.status_code == 403
    assert console.tickets.supplements == []

    await console.desk.hand_back(case.case_id, "agent1")
    closed = await agent.post(f"{path}/supplement", data=form)
    assert closed.status_code == 409
    assert "会话已结束" in page(closed.text).find("error").full_text
    assert console.tickets.supplements == []


async def test_the_ticket_systems_refusals_are_told_in_chinese(
    console: Console, agent: httpx.AsyncClient
) -> None:
    number = await file(console)
    _, path = await claimed_case(console, agent)
    html = (await agent.get(path)).text
    fields = {**fields_of(supplement_forms(html)[number]), "text": "补充一张照片的说明"}
    for error, status, words in (
        (UnsupportedByBackend("open311"), 409, "当前工单系统不支持在线补充材料"),
        (BackendRejected("工单正在办结审核"), 409, "工单系统没有接受这次补充：工单正在办结审核"),
        (BackendRejected("conflict"), 409, "工单系统没有接受这次补充。"),
        (BackendUnavailable("down"), 503, "工单系统暂时连接不上"),
    ):
        console.tickets.supplement_error = error
        refused = await agent.post(f"{path}/supplement", data=fields)
        assert refused.status_code == status
        assert words in page(refused.text).find("supplement-error").full_text
        # What the agent typed is kept, with the same id for the retry.
        kept = supplement_forms(refused.text)[number]
        assert '<details class="supplement" open>' in refused.text
        assert fields_of(kept)["submission_id"] == fields["submission_id"]
        assert "补充一张照片的说明" in kept.find("supplement-text").full_text
    assert not [e for e in await console.desk.audit_log() if e.action == "supplement"]
