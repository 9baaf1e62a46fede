"""Takes the README's screenshots of the ticket loop in a real headless Chromium.

Starts ``minhu serve`` on a throwaway SQLite database with the simulator and
demo staff accounts, then, in the browser:

1. a resident reports a broken street lamp in the simulator page and confirms;
2. the dispatcher signs in to the work-order pages and dispatches it; the
   housing bureau's account starts work and finishes it with an answer;
3. the resident sees every step arrive and rates it;
4. a resident on the simulator's Telegram mode reaches the summary of a
   request, answering with the inline keyboard's buttons.

Run with ``scripts/screenshots.sh`` (it installs Chromium and Playwright
first); the images go to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.live_server import ROOT, live_minhu

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("MINHU_CHROMIUM", "/usr/bin/chromium")


def bubbles(page: Page) -> int:
    return page.locator("#chat .bubble, #chat .card").count()


def say(page: Page, text: str) -> None:
    before = bubbles(page)
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#chat .bubble, #chat .card').length > {before + 1}",
        timeout=15_000,
    )
    page.wait_for_timeout(300)


def last_reply(page: Page) -> str:
    return str(page.locator("#chat .bubble").last.inner_text())


def tap(page: Page, option: str) -> None:
    """Answer with the number of the last reply's option titled ``option``."""
    match = re.search(rf"^(\d+)\. {re.escape(option)}", last_reply(page), re.M)
    if not match:
        raise SystemExit(f"no option {option!r} in: {last_reply(page)}")
    say(page, match.group(1))


def staff_sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/staff/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/workorders.*"))


def move(page: Page, base: str, ticket: str, status: str, note: str) -> None:
    page.goto(f"{base}/staff/workorders/{ticket}")
    page.fill("textarea[name=note]", note)
    page.click(f"button[name=to][value='{status}']")
    page.wait_for_load_state()


def telegram_say(page: Page, text: str | None = None, *, press: str | None = None) -> None:
    """Type ``text`` or press the last message's inline button ``press``; wait for the answer."""
    before = page.locator("#chat .bubble").count()
    if press is not None:
        page.locator("#chat .chip", has_text=press).last.click()
    else:
        assert text is not None
        page.fill("#text", text)
        page.press("#text", "Enter")
    page.wait_for_function(
        f"document.querySelectorAll('#chat .bubble').length > {before + 1}", timeout=15_000
    )
    page.wait_for_timeout(300)


def telegram(browser: Browser, base: str) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    page.goto(f"{base}/simulator/telegram")
    page.wait_for_selector("#text")
    telegram_say(page, "幸福里小区3号楼门口的路灯坏了一个星期了，晚上黑得看不见路")
    telegram_say(page, press="不留电话")
    telegram_say(page, press="没有照片")
    page.screenshot(path=str(OUT / "telegram-summary.png"))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_minhu(
            Path(tmp) / "minhu.db", outbox_poll_seconds="0.2",
            # The simulator's fake Bot API accepts any token; these are not secrets.
            telegram_token="7000000000:minhu-simulator-dev-token-not-a-real-bot",  # noqa: S106
            telegram_secret="minhu-simulator-dev-secret",  # noqa: S106
            telegram_api_base="{base}/simulator/telegram-api",
        ) as base,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        # The pages' CSP forbids eval, which Playwright's waiting uses.
        resident = browser.new_context(
            viewport={"width": 1280, "height": 900}, bypass_csp=True
        ).new_page()
        resident.goto(f"{base}/simulator")
        resident.wait_for_selector("#text")
        say(resident, "幸福里小区3号楼门口的路灯坏了一个星期了，晚上黑得看不见路")
        tap(resident, "不留电话")
        tap(resident, "没有照片")
        resident.screenshot(path=str(OUT / "resident-summary.png"))
        tap(resident, "确认提交")
        found = re.search(r"MH\d{12}", last_reply(resident))
        if not found:
            raise SystemExit(f"no ticket number in: {last_reply(resident)}")
        ticket = found.group(0)

        staff = browser.new_context(
            viewport={"width": 1280, "height": 860}, bypass_csp=True
        ).new_page()
        staff_sign_in(staff, base, "dispatcher", "minhu-demo-1")
        staff.screenshot(path=str(OUT / "staff-list.png"))
        move(staff, base, ticket, "已派单", "请住建委尽快核查修复")
        staff.context.clear_cookies()
        staff_sign_in(staff, base, "zhujian", "minhu-demo-2")
        move(staff, base, ticket, "办理中", "已安排维修班组今晚到场")
        move(staff, base, ticket, "已办结", "已更换灯泡并检修线路，现场照明恢复正常")
        staff.goto(f"{base}/staff/workorders/{ticket}")
        staff.screenshot(path=str(OUT / "staff-ticket.png"), full_page=True)

        resident.wait_for_function(
            "document.body.innerText.includes('请您对办理结果进行评价')",
            timeout=20_000,
        )
        resident.wait_for_timeout(500)
        tap(resident, "满意")
        resident.screenshot(path=str(OUT / "resident-progress.png"))
        telegram(browser, base)
        browser.close()
    print(f"screenshots written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
