"""Fakes for the WeChat adapter tests: a recording submitter, a shared token
store, reply windows, a fallback notifier and a fake WeChat API server at
the httpx transport seam that fails loudly on any unexpected request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.ingest import Submission
from bot.types import ConversationKey, InboundMessage, OutboundMessage

VECTORS_FILE = Path(__file__).with_name("official_crypto_vectors.json")
SHARED_VECTORS_FILE = Path("/work/shared/data/wechat/official_crypto_vectors.json")

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class RecordingSubmitter:
    """Records every submitted message; answers with ``reply`` (or raises)."""

    def __init__(self, reply: OutboundMessage | None = None) -> None:
        self.reply = reply
        self.error: Exception | None = None
        self.calls: list[tuple[InboundMessage, float | None]] = []

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> Submission:
        self.calls.append((message, passive_budget))
        if self.error is not None:
            raise self.error
        return Submission(reply=self.reply)


@pytest.fixture
def submitter() -> RecordingSubmitter:
    return RecordingSubmitter()


class MemoryTokenStore:
    """TokenStore with compare-and-set, like the shared database one."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self.replaced: list[str] = []

    async def get(self, name: str) -> tuple[str, datetime] | None:
        await asyncio.sleep(0)
        return self.tokens.get(name)

    async def replace(
        self, name: str, token: str, expires_at: datetime, *, previous: str | None
    ) -> bool:
        await asyncio.sleep(0)
        current = self.tokens.get(name)
        if (current[0] if current else None) != previous:
            return False
        self.tokens[name] = (token, expires_at)
        self.replaced.append(token)
        return True


@pytest.fixture
def token_store() -> MemoryTokenStore:
    return MemoryTokenStore()


class FakeWindows:
    """ReplyWindows with a fixed number of pushes left."""

    def __init__(self, left: int = 5) -> None:
        self.left = left
        self.reserved = 0
        self.released = 0

    async def open(self, message: InboundMessage) -> None:  # pragma: no cover - unused
        pass

    async def reserve(self, key: ConversationKey, now: datetime) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        self.reserved += 1
        return True

    async def release(self, key: ConversationKey) -> None:
        self.left += 1
        self.released += 1

    async def current(self, key: ConversationKey) -> Any:  # pragma: no cover - unused
        raise NotImplementedError


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls: list[tuple[ConversationKey, OutboundMessage]] = []

    async def notify(self, key: ConversationKey, message: OutboundMessage) -> None:
        self.calls.append((key, message))


Handler = Callable[[httpx.Request], "httpx.Response | Awaitable[httpx.Response]"]


@dataclass
class FakeWeChatServer:
    """The WeChat API at the transport seam.

    Routes are registered per path; a request to any other URL, another
    host, or an unexpected method fails the test (the error propagates out
    of httpx and is also recorded for the teardown check).
    """

    base: str = "https://api.weixin.qq.com"
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    token_fetches: int = 0
    issued: list[str] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        if not url.startswith(self.base + "/"):
            self.unexpected.append(url)
            raise AssertionError(f"unexpected host: {url}")
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            self.unexpected.append(f"{request.method} {request.url.path}")
            raise AssertionError(f"unexpected request: {request.method} {url}")
        result = handler(request)
        if not isinstance(result, httpx.Response):
            result = await result
        return result

    # a default token endpoint that issues tok-1, tok-2, ...
    def install_token_endpoint(self, *, expires_in: int = 7200, delay: float = 0.0) -> None:
        async def token(request: httpx.Request) -> httpx.Response:
            assert request.url.params["grant_type"] == "client_credential"
            assert request.url.params["appid"] == "wxAPP"
            assert request.url.params["secret"] == "SECRET"
            if delay:
                await asyncio.sleep(delay)
            self.token_fetches += 1
            value = f"tok-{self.token_fetches}"
            self.issued.append(value)
            self.valid_tokens = {value}
            return httpx.Response(200, json={"access_token": value, "expires_in": expires_in})

        self.route("GET", "/cgi-bin/token", token)

    def token_ok(self, request: httpx.Request) -> bool:
        return request.url.params.get("access_token") in self.valid_tokens


@pytest.fixture
async def wechat_server() -> Any:
    server = FakeWeChatServer()
    yield server
    assert not server.unexpected, f"unexpected WeChat API calls: {server.unexpected}"


@pytest.fixture
async def http(wechat_server: FakeWeChatServer) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(wechat_server.handle)) as client:
        yield client
