"""Staff take over a resident's chat in the console (issue 7), as the people
involved see it: the resident on the WeChat simulator page, an agent in the
console, both in real headless Chromium against a real ``minhu serve``.

With MINHU_SCREENSHOTS=1 these tests also take the README's console
screenshots (docs/screenshots/console-*.png).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.actors import Agent, Resident, tid
from tests.browser.conftest import Pages, Server, Shooter

# The bot's answer to a new report: the intake flow's first question.
BOT_INTAKE = re.compile(r"收到您的.*城乡建设")
# What the resident is told on escalation: a person is coming, and the wait.
PERSON_COMING = re.compile(r"转接人工.*预计等待约?\d+分钟", re.S)
HANDED_BACK = "人工服务已结束"


def test_an_agent_takes_over_a_chat_files_a_ticket_and_hands_back(
    pages: Pages, server: Server, shoot: Shooter
) -> None:
    # A resident asks for a person and is told one is coming.
    resident = Resident.open(pages.new(width=1280, height=900), server, "李阿姨")
    asked = "我要找人工客服，幸福里小区3号楼停水两天了"
    resident.say(asked)
    resident.expect_reply(PERSON_COMING)

    # An agent signs in and finds the chat waiting in the queue.
    agent = Agent(pages.new(width=1360, height=900), server, "agent1")
    agent.sign_in_console()
    row = agent.case_row("幸福里小区3号楼停水")
    expect(row).to_be_visible()
    expect(row.locator(tid("case-wait"))).to_have_class(re.compile(r"\bsla-(green|amber|red)\b"))
    shoot(agent.page, "console-queue")

    # The agent opens and claims it; the resident's request is in the history.
    agent.open_case("幸福里小区3号楼停水")
    expect(agent.message_texts("resident").filter(has_text=asked)).to_have_count(1)
    expect(agent.messages_after(asked, author="bot").first).to_contain_text(PERSON_COMING)
    agent.claim()

    # What the resident says now reaches the console live, without a reload.
    loads = pages.seen(agent.page).loads
    more = "楼下水泵房好像在维修，什么时候能来水？"
    resident.say(more)
    expect(agent.message_texts("resident").filter(has_text=more)).to_have_count(1)
    assert pages.seen(agent.page).loads == loads, "the console reloaded to show a message"

    # The agent's reply reaches the resident; the bot said nothing to what the
    # resident wrote while the agent had the chat.
    answer = "您好，我是坐席小王。已联系物业核实停水原因，维修后会第一时间通知您。"
    agent.reply(answer)
    loads = pages.seen(agent.page).loads
    resident.expect_reply(answer)
    expect(agent.messages_after(more, author="bot")).to_have_count(0)
    # Its delivery shows without a reload (发送中 → 已送达渠道).
    sent = agent.messages("staff").filter(has_text=answer).locator(tid("message-delivery"))
    expect(sent).to_have_text("已送达渠道")
    assert pages.seen(agent.page).loads == loads, "the console reloaded to show the delivery"

    # The agent files a ticket from the chat; it shows among the resident's tickets.
    ticket = agent.file_ticket(
        request_type="求助",
        category="供水",
        description="幸福里小区3号楼停水两天，居民询问何时恢复供水",
        address="幸福里小区3号楼",
    )
    told = f"已为您登记工单，编号{ticket}，办理进展会在这里通知您。"
    agent.reply(told)
    resident.expect_reply(ticket)
    shoot(agent.page, "console-conversation", full_page=True)
    shoot(resident.page, "console-resident")

    # The resident adds something; the agent puts it on the ticket.
    agent.supplement(ticket, "居民补充：4号楼也停水了")

    # Handed back, the resident is told, and the bot answers the next message.
    agent.hand_back()
    resident.expect_reply(HANDED_BACK)
    resident.say("幸福里小区3号楼门口的路灯坏了")
    resident.expect_reply(BOT_INTAKE)

    for page in (resident.page, agent.page):
        seen = pages.seen(page)
        assert seen.errors == [], f"script errors on {page.url}: {seen.errors}"
        assert seen.csp == [], f"CSP refusals on {page.url}: {seen.csp}"


def test_a_residents_markup_is_shown_as_text_in_the_console(
    pages: Pages, server: Server
) -> None:
    resident = Resident.open(pages.new(), server, "王大爷")
    script = "<script>alert('xss-1')</script>"
    first = f"人工客服 {script} 王大爷找人"
    resident.say(first)
    resident.expect_reply(PERSON_COMING)

    # The console with its Content-Security-Policy switched off, so that only
    # the escaping stands between a resident's text and the agent's browser.
    agent = Agent(pages.new(bypass_csp=True), server, "agent1")
    agent.sign_in_console()
    row = agent.case_row("王大爷找人")
    expect(row).to_be_visible()
    case_id = agent.open_case("王大爷找人")
    agent.claim()

    # Markup sent while the agent watches arrives through the live updates,
    # the other path into the page.
    live = '<img src="x" onerror="alert(\'xss-2\')"><b>加粗</b><script>alert("xss-3")</script>'
    loads = pages.seen(agent.page).loads
    resident.say(live)

    texts = agent.message_texts("resident")
    expect(texts.filter(has_text=live)).to_have_count(1)
    assert pages.seen(agent.page).loads == loads, "the message came with a reload, not live"
    expect(texts.filter(has_text=script)).to_have_count(1)
    history = agent.messages()
    expect(history.locator("script")).to_have_count(0)
    expect(history.locator("img[onerror], b")).to_have_count(0)
    assert pages.seen(agent.page).dialogs == [], "a resident's text ran as script"

    # The queue shows the same text, escaped, too.
    agent.page.goto(server.url("/console"))
    expect(agent.case_row("王大爷找人")).to_contain_text(script)
    expect(agent.page.locator(f'{tid("case-row")} script')).to_have_count(0)
    assert pages.seen(agent.page).dialogs == [], "a resident's text ran as script"
    assert pages.seen(agent.page).errors == []

    # The resident's own page shows it as text as well.
    expect(resident.sent.filter(has_text=live)).to_have_count(1)
    assert pages.seen(resident.page).dialogs == []

    # Tidy up: the chat goes back to the bot.
    agent.page.goto(server.url(f"/console/cases/{case_id}"))
    agent.hand_back()
