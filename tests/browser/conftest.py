"""End-to-end tests in a real headless Chromium, driven by Playwright.

A real ``minhu serve`` runs on loopback (a free port, a throwaway SQLite
file, the WeChat simulator, the demo staff accounts, fast outbox polling)
and Debian's Chromium (``/usr/bin/chromium``, or ``MINHU_CHROMIUM``) is
driven through Playwright's sync API. Playwright never downloads a browser
here: ``scripts/browser-env.sh`` installs Debian's package (``make test``
runs it first).

``MINHU_TEST_BROWSER=required`` (set by ``make test``): a missing Chromium is
an error. Without it the tests skip when there is no Chromium.

The PostgreSQL pass of ``make test`` skips them: they test what people see
in the browser, and the database code under them runs on both databases in
tests/e2e and tests/handoff.

``MINHU_SCREENSHOTS=1`` also writes the README's console screenshots to
docs/screenshots/ (``make screenshots`` does); otherwise nothing in the
checkout changes.

The server and the browser live for this package only (scope "package"):
Playwright's sync API keeps its own event loop marked as running in this
thread while it is alive, which the asyncio tests that follow must not see.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    expect,
    sync_playwright,
)

from bench.live_server import ROOT, live_minhu
from tests.support import use_postgres

# Playwright drives Debian's Chromium; it must never fetch a browser of its own.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = os.environ.get("MINHU_CHROMIUM", "/usr/bin/chromium")
BROWSER_ENV = "MINHU_TEST_BROWSER"
SCREENSHOTS_ENV = "MINHU_SCREENSHOTS"
SCREENSHOTS = ROOT / "docs" / "screenshots"

# username:password:role[:department[:display name]]
STAFF = {
    "dispatcher": ("minhu-demo-1", "dispatcher", "", "12345中心值班员"),
    "zhujian": ("minhu-demo-2", "department", "housing_construction", "住建委值班员"),
    "agent1": ("minhu-demo-3", "agent", "", "坐席小王"),
    "lead1": ("minhu-demo-4", "supervisor", "", "值班长"),
}
ACCOUNTS = ";".join(
    ":".join((name, password, role, dept, display))
    for name, (password, role, dept, display) in STAFF.items()
)

# Chromium as this machine's probe runs it: no calls home (the network is
# closed), no GPU. Playwright adds --no-sandbox (CI runs as root).
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
]

# Generous for a loaded 2-core CI machine; every wait ends as soon as the
# thing waited for is there.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)


def browser_required() -> bool:
    return os.environ.get(BROWSER_ENV, "") in ("1", "required")


def screenshots_wanted() -> bool:
    return os.environ.get(SCREENSHOTS_ENV, "") == "1"


@dataclass(frozen=True)
class Server:
    base: str
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="package")
def chromium_path() -> str:
    if use_postgres():
        pytest.skip(
            "browser tests run on the SQLite pass only: they test the pages, "
            "and the database under them is tested on PostgreSQL elsewhere"
        )
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        message = (
            f"no Chromium at {CHROMIUM}: run scripts/browser-env.sh (installs Debian's "
            "chromium and fonts-noto-cjk) or set MINHU_CHROMIUM"
        )
        if browser_required():
            pytest.fail(f"{BROWSER_ENV} is set but {message}", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="package")
def server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``minhu serve`` on loopback for every browser test of this run."""
    tmp = tmp_path_factory.mktemp("browser-server")
    log = tmp / "minhu-serve.log"
    with live_minhu(
        tmp / "minhu.db",
        log=log,
        staff_demo_accounts=ACCOUNTS,
        outbox_poll_seconds="0.1",
        media_dir=str(tmp / "media"),
        # Staff are always on duty here, whatever the hour CI runs at.
        service_hours="always",
        log_level="WARNING",
        log_format="console",
    ) as base:
        yield Server(base, log)


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """What a page did that a person would notice, or a test should: dialogs
    (alert/confirm/prompt), uncaught script errors, Content-Security-Policy
    refusals and full page loads (a live view must not need a reload)."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    loads: int = 0


@dataclass
class Pages:
    browser: Browser
    contexts: list[BrowserContext] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    watched: dict[int, Watched] = field(default_factory=dict)

    def new(
        self, *, width: int = 1280, height: int = 900, bypass_csp: bool = False
    ) -> Page:
        """A page in a context of its own (its own cookies: one person each)."""
        context = self.browser.new_context(
            viewport={"width": width, "height": height},
            locale="zh-CN",
            bypass_csp=bypass_csp,
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        seen = Watched()

        def on_dialog(dialog: Dialog) -> None:
            # Recorded, so a test can assert that none fired; a confirm()
            # of the console's own buttons is answered yes.
            seen.dialogs.append(f"{dialog.type}: {dialog.message}")
            if dialog.type == "confirm":
                dialog.accept()
            else:
                dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                seen.csp.append(message.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        page.on("console", on_console)

        def on_load(_: Page) -> None:
            seen.loads += 1

        page.on("load", on_load)
        self.contexts.append(context)
        self.pages.append(page)
        self.watched[id(page)] = seen
        return page

    def seen(self, page: Page) -> Watched:
        return self.watched[id(page)]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def pages(
    browser: Browser, server: Server, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Pages]:
    """Makes pages; on a failure keeps a screenshot of each and shows the
    server's log."""
    made = Pages(browser)
    yield made
    if request.node.stash.get(_FAILED, False):
        for number, page in enumerate(made.pages):
            if page.is_closed():
                continue
            shot = tmp_path / f"failure-{number}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"page {number} ({page.url}) at failure: {shot}")
            except Exception as error:  # the page may be gone
                print(f"page {number}: no screenshot ({error})")
        print("--- minhu serve log (tail) ---")
        print(server.log_tail())
    for context in made.contexts:
        context.close()


class Shooter:
    """``shoot(page, name)`` writes docs/screenshots/<name>.png when
    MINHU_SCREENSHOTS=1 and does nothing otherwise, so test runs leave the
    checkout as it was; the README's images are committed ones."""

    def __init__(self) -> None:
        self.taken: list[Path] = []

    def __call__(self, page: Page, name: str, *, full_page: bool = False) -> None:
        if not screenshots_wanted():
            return
        if not re.fullmatch(r"[a-z0-9-]+", name):
            raise ValueError(f"bad screenshot name {name!r}")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)


@pytest.fixture
def shoot() -> Shooter:
    return Shooter()
