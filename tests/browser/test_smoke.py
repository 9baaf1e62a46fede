"""The browser tests' plumbing works: Debian's Chromium runs under
Playwright, the live server answers, the simulator page talks to the bot and
staff can sign in to the work-order pages."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.actors import Resident, Staff
from tests.browser.conftest import Pages, Server


def test_resident_chats_in_the_simulator_page(pages: Pages, server: Server) -> None:
    resident = Resident.open(pages.new(), server, "冒烟测试居民")
    before = resident.say("你好")
    expect(resident.reply_after(before)).not_to_be_empty()
    assert pages.seen(resident.page).errors == []


def test_staff_sign_in_to_the_work_order_pages(pages: Pages, server: Server) -> None:
    staff = Staff(pages.new(), server, "dispatcher")
    staff.sign_in("/staff/login", re.compile(r".*/staff/workorders.*"))
    expect(staff.page.locator("h1")).to_have_text("工单")
    expect(staff.page.locator(".who-name")).to_have_text(staff.display_name)
    assert pages.seen(staff.page).errors == []
