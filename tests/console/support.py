"""Browser-like helpers for the console tests, and an SSE reader.

httpx's ASGI transport returns a response only once the app has finished it,
so the live stream is read by calling the ASGI app directly: the body's
chunks are parsed into events as they are sent, and the "browser" hangs up
(``http.disconnect``) once it has seen what it waited for.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi import FastAPI

from bot.handoff import HandoffDesk
from bot.ports import HistoryLine
from bot.types import (
    ConversationKey,
    HandoffCase,
    HandoffReason,
    HistoryEntry,
    InboundKind,
    InboundMessage,
)

from .conftest import PASSWORDS, RESIDENT, Console

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SESSION_COOKIE = "minhu_console_session"


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str | None = None,
    *, next_path: str | None = None,
) -> httpx.Response:
    """Open the sign-in page and submit it, as a browser would."""
    page = await client.get("/console/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text
    form = {
        "username": username,
        "password": PASSWORDS[username] if password is None else password,
        "csrf": csrf_in(page.text),
    }
    if next_path is not None:
        form["next"] = next_path
    return await client.post("/console/login", data=form)


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, **fields: str
) -> httpx.Response:
    """Load ``page_path`` (for its CSRF token), then post ``fields`` to ``action``."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf": csrf_in(page.text), **fields})


async def open_case(
    desk: HandoffDesk, key: ConversationKey = RESIDENT, *, summary: str = "居民要求人工服务",
    reason: HandoffReason = HandoffReason.ASKED,
) -> HandoffCase:
    return await desk.escalate(key, reason=reason, summary=summary)


async def resident_says(
    console: Console, text: str, *, key: ConversationKey = RESIDENT,
    intent: str | None = "complain", category: str | None = "城乡建设",
    open_window: bool = True,
) -> HistoryEntry:
    """A resident's message recorded as the dispatcher records it (a history line
    of the open case, the WeChat window opened), then the ingest's wake-up."""
    desk = console.desk
    at = console.clock()
    message = _message(key, text, at)
    case = await desk.open_case(key)
    if open_window:
        await console.storage.windows.open(message)
    [entry] = await console.storage.handoff.append([HistoryLine(
        key=key, at=at, author="resident", kind="text", text=text, intent=intent,
        category=category, case_id=case.case_id if case else None,
        source=f"in:test:{message.message_id}",
    )])
    if case is not None:
        await desk.hold(case.case_id, message)
    desk.notify()
    return entry


_MESSAGE_IDS = iter(range(1, 1_000_000))


def _message(key: ConversationKey, text: str, at: datetime) -> InboundMessage:
    return InboundMessage(key=key, message_id=f"m-{next(_MESSAGE_IDS)}",
                          kind=InboundKind.TEXT, received_at=at, text=text)


# -- the live stream ------------------------------------------------------------------


@dataclass
class SSEEvent:
    event: str
    data: Any
    id: str | None


@dataclass
class SSEResult:
    status: int
    headers: dict[str, str]
    events: list[SSEEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[SSEEvent]:
        return [e for e in self.events if e.event == name]


def _parse(block: str, result: SSEResult) -> None:
    event, data, event_id = "message", [], None
    for line in block.split("\n"):
        if line.startswith(":"):
            result.comments.append(line[1:].strip())
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line.startswith("id: "):
            event_id = line[4:]
    if data:
        result.events.append(SSEEvent(event, json.loads("\n".join(data)), event_id))


async def read_sse(
    app: FastAPI,
    client: httpx.AsyncClient,
    path: str,
    *,
    until: Callable[[SSEResult], bool],
    last_event_id: str | None = None,
    on_ready: Callable[[], Awaitable[None]] | None = None,
    within: float = 10.0,
) -> SSEResult:
    """GET ``path`` with the client's cookies; read events until ``until`` holds."""
    raw_path, _, query = path.partition("?")
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    headers = [(b"host", b"console.test"), (b"accept", b"text/event-stream")]
    if cookie:
        headers.append((b"cookie", cookie.encode("latin-1")))
    if last_event_id is not None:
        headers.append((b"last-event-id", last_event_id.encode("ascii")))
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.0"},
        "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("console.test", 80),
    }
    result = SSEResult(status=0, headers={})
    hang_up = asyncio.Event()
    requested = False
    buffer = ""
    ready_seen = False
    background: set[asyncio.Task[None]] = set()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal buffer, ready_seen
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            return
        buffer += message.get("body", b"").decode("utf-8")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            _parse(block, result)
        if not ready_seen and result.named("ready"):
            ready_seen = True
            if on_ready is not None:
                background.add(asyncio.get_running_loop().create_task(on_ready()))
        if until(result):
            hang_up.set()

    task = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=within)
    except TimeoutError:
        hang_up.set()
        await asyncio.wait_for(task, timeout=5)
        raise AssertionError(f"the stream did not deliver in time: {result}") from None
    return result


# -- reading pages ----------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find_all(self, testid: str) -> list[Element]:
        found = [self] if self.attrs.get("data-testid") == testid else []
        for child in self.children:
            found.extend(child.find_all(testid))
        return found

    def find(self, testid: str) -> Element:
        found = self.find_all(testid)
        assert found, f"no [data-testid={testid!r}] in <{self.tag}>"
        return found[0]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def full_text(self) -> str:
        return self.text + "".join(child.full_text for child in self.children)


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        node = self.stack[-1]
        if node.children:
            node.children.append(Element("#text", {}, data))
        else:
            node.text += data


def page(html: str) -> Element:
    """The page as a tree, to look elements up by data-testid (text decoded)."""
    builder = _Builder()
    builder.feed(html)
    return builder.root
