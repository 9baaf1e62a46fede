"""The people in the browser tests: a resident on the simulator page and a
staff member in the console or the work-order pages.

Every wait is Playwright's: locators auto-wait and ``expect`` retries until
its timeout, so nothing here sleeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import STAFF, Server


def tid(name: str) -> str:
    """The selector of a `data-testid` hook."""
    return f'[data-testid="{name}"]'


@dataclass
class Resident:
    """A resident chatting on the WeChat simulator page (/simulator)."""

    page: Page
    server: Server
    name: str

    @classmethod
    def open(cls, page: Page, server: Server, name: str) -> Resident:
        """Opens the simulator as a new resident of its own (tests share one
        server, each resident starts a fresh conversation)."""
        page.goto(server.url("/simulator"))
        expect(page.locator("#text")).to_be_editable()
        page.fill("#new-name", name)
        page.click("#add-user")
        expect(page.locator("#subtitle")).to_have_text(f"你是 {name}")
        return cls(page, server, name)

    @property
    def replies(self) -> Locator:
        """What reaches the resident: the bot's and staff's messages."""
        return self.page.locator("#chat .msg.out")

    @property
    def sent(self) -> Locator:
        return self.page.locator("#chat .msg.in .bubble")

    def say(self, text: str) -> int:
        """Types ``text`` and sends it; returns how many replies were on the
        page before, for :meth:`reply_after`."""
        before = self.replies.count()
        mine = self.sent.filter(has_text=text).count()
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")
        expect(self.sent.filter(has_text=text)).to_have_count(mine + 1)
        return before

    def reply_after(self, before: int) -> Locator:
        """The first reply that arrived after ``before`` replies (waits for it)."""
        reply = self.replies.nth(before)
        expect(reply).to_be_visible()
        return reply

    def expect_reply(self, text: str | re.Pattern[str]) -> Locator:
        """Waits until some reply on the page shows ``text``."""
        reply = self.replies.filter(has_text=text).last
        expect(reply).to_be_visible()
        return reply


@dataclass
class Staff:
    """A staff member signed in to the work-order pages or the console."""

    page: Page
    server: Server
    username: str

    @property
    def password(self) -> str:
        return STAFF[self.username][0]

    @property
    def display_name(self) -> str:
        return STAFF[self.username][3]

    def sign_in(self, login_path: str, landed: re.Pattern[str]) -> None:
        self.page.goto(self.server.url(login_path))
        self.page.fill('input[name="username"]', self.username)
        self.page.fill('input[name="password"]', self.password)
        self.page.click('button[type="submit"]')
        self.page.wait_for_url(landed)


CONSOLE_HOME = re.compile(r".*/console/?(\?.*)?$")


@dataclass
class Agent(Staff):
    """A staff member in the console (/console): the queue and a conversation."""

    def sign_in_console(self) -> None:
        self.sign_in("/console/login", CONSOLE_HOME)
        expect(self.page.get_by_text(self.display_name).first).to_be_visible()

    # -- the queue -------------------------------------------------------------------

    def case_row(self, text: str) -> Locator:
        """The queue's row of the case whose summary shows ``text``."""
        return self.page.locator(tid("case-row")).filter(has_text=text)

    def open_case(self, text: str) -> str:
        """Opens, from the queue, the conversation of the case showing
        ``text``; returns its case id."""
        row = self.case_row(text)
        expect(row).to_have_count(1)
        case_id = row.get_attribute("data-case-id")
        assert case_id, "a case row without data-case-id"
        row.locator(tid("open-case")).click()
        self.page.wait_for_url(re.compile(rf".*/console/cases/{re.escape(case_id)}(\?.*)?$"))
        return case_id

    # -- the conversation view ---------------------------------------------------------

    @property
    def status(self) -> Locator:
        """What the page shows of the case's status (处理中 · 坐席小王…)."""
        return self.page.locator(tid("case-status"))

    def expect_status(self, status: str) -> None:
        """The conversation view is of a case in ``status`` (waiting, active,
        closed): the page's body carries it as data-case-status."""
        expect(self.page.locator("body")).to_have_attribute("data-case-status", status)

    def messages(self, author: str | None = None) -> Locator:
        selector = tid("message")
        if author is not None:
            selector += f'[data-author="{author}"]'
        return self.page.locator(selector)

    def messages_after(self, text: str, *, author: str) -> Locator:
        """The history's lines by ``author`` that follow the resident's
        message ``text``."""
        return self.messages("resident").filter(has_text=text).locator(
            f'xpath=following-sibling::*[@data-testid="message"][@data-author="{author}"]'
        )

    def message_texts(self, author: str | None = None) -> Locator:
        return self.messages(author).locator(tid("message-text"))

    def claim(self) -> None:
        self.page.locator(tid("claim")).click()
        self.expect_status("active")
        expect(self.status).to_contain_text(self.display_name)

    def reply(self, text: str) -> None:
        self.page.locator(tid("reply-text")).fill(text)
        self.page.locator(tid("reply-send")).click()
        expect(self.message_texts("staff").filter(has_text=text)).to_have_count(1)

    def file_ticket(
        self, *, request_type: str, category: str, description: str, address: str
    ) -> str:
        """Files a ticket from the chat with the console's form; returns its
        number as the resident's ticket list shows it."""
        tickets = self.page.locator(tid("resident-tickets"))
        known = set(re.findall(r"MH\d{12}", tickets.inner_text()))
        self.page.locator(tid("create-ticket")).click()
        expect(self.page.locator(tid("ticket-submit"))).to_be_visible()
        self.page.locator('select[name="request_type"]').select_option(label=request_type)
        self.page.locator('input[name="category"]').fill(category)
        self.page.locator('textarea[name="description"]').fill(description)
        self.page.locator('input[name="address"]').fill(address)
        self.page.locator(tid("ticket-submit")).click()
        expect(tickets).to_contain_text(_new_ticket_number(known))
        new = set(re.findall(r"MH\d{12}", tickets.inner_text())) - known
        assert len(new) == 1, f"expected one new ticket in {tickets.inner_text()!r}"
        return new.pop()

    def supplement(self, ticket: str, text: str) -> None:
        """Adds ``text`` to one of the resident's open tickets, from its entry in
        the resident's ticket list."""
        entry = self.page.locator(f'{tid("resident-ticket")}[data-ticket-id="{ticket}"]')
        entry.locator(tid("supplement-open")).click()
        form = entry.locator(tid("ticket-supplement"))
        form.locator(tid("supplement-text")).fill(text)
        form.locator(tid("supplement-submit")).click()
        expect(self.page.locator(tid("notice"))).to_contain_text(f"已向工单 {ticket} 补充材料")

    def hand_back(self) -> None:
        self.page.locator(tid("hand-back")).click()
        self.expect_status("closed")


def _new_ticket_number(known: set[str]) -> re.Pattern[str]:
    """A ticket number that is none of ``known``."""
    if not known:
        return re.compile(r"MH\d{12}")
    others = "|".join(map(re.escape, sorted(known)))
    return re.compile(rf"(?!{others})MH\d{{12}}")
