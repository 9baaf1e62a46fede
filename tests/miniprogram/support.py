"""The system under test with the mini-program configured, and a mini-program client.

The client plays the mini-program: ``wx.login`` and the other ``wx.*``
calls are answered by the simulator's fake WeChat (which also plays
WeChat's API to the app), and everything else is HTTP to ``/mp/v1``.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from integrations.miniprogram.channel import MiniProgramChannel
from integrations.simulator.fake_api import FakeWeChatAPI, MiniProgramUser
from tests.support import BASE_URL, System, running_system

MP_APP_ID = "wx5e1f0000000000mp"
MP_SECRET = "mp-test-secret"
STATUS_TEMPLATE = "TPL_status_progress_0001"
DEMO_ACCOUNTS = (
    "dispatcher:minhu-demo-1:dispatcher::12345值班员;"
    "zhujian:minhu-demo-2:department:housing_construction:住建值班员"
)


@asynccontextmanager
async def mp_system(tmp_path: Path, **overrides: Any) -> AsyncIterator[System]:
    values: dict[str, Any] = {
        "miniprogram_app_id": MP_APP_ID,
        "miniprogram_app_secret": MP_SECRET,
        "miniprogram_status_template_id": STATUS_TEMPLATE,
        "media_dir": str(tmp_path / "media"),
        "staff_demo_accounts": DEMO_ACCOUNTS,
    }
    values.update(overrides)
    async with running_system(tmp_path, **values) as system:
        yield system


def fake(system: System) -> FakeWeChatAPI:
    return system.simulator.api


def channel(system: System) -> MiniProgramChannel:
    assert system.container.miniprogram is not None
    return system.container.miniprogram


def png(seed: int = 0, size: int = 2) -> bytes:
    """A real (tiny) PNG; ``seed`` changes its pixels, so its hash."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + bytes([seed % 256, 0, 0]) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg(seed: int = 0) -> bytes:
    """Bytes that start like a JPEG (enough for the type check)."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes([seed % 256]) * 64 + b"\xff\xd9"


class MiniProgram:
    """One user's mini-program: logs in through the fake wx.login, then calls /mp/v1."""

    def __init__(self, system: System, name: str) -> None:
        self.system = system
        self.name = name
        self.token: str | None = None
        self.cursor = 0
        self.http = httpx.AsyncClient(transport=system.transport, base_url=BASE_URL)

    @property
    def user(self) -> MiniProgramUser:
        return fake(self.system).mp_user(self.name)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def close(self) -> None:
        await self.http.aclose()

    async def login(self) -> dict[str, Any]:
        code = fake(self.system).mp_login(self.name)
        response = await self.http.post("/mp/v1/session", json={"code": code})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.token = body["token"]
        return body

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, f"/mp/v1{path}", headers=headers, **kwargs)

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()

    async def subscribe(self, *choices: str) -> dict[str, Any]:
        """wx.requestSubscribeMessage (recorded by WeChat), then tell the app."""
        results: dict[str, Any] = {}
        for choice in choices:
            results = fake(self.system).mp_subscribe(self.name, {STATUS_TEMPLATE: choice})
            answer = await self.ok("PUT", "/subscriptions", json=results)
        return answer if choices else results

    async def upload(self, data: bytes, *, filename: str = "photo.jpg",
                     content_type: str = "image/jpeg") -> httpx.Response:
        return await self.call("POST", "/media", files={"file": (filename, data, content_type)})

    async def say(self, text: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"client_msg_id": uuid.uuid4().hex, **fields}
        if text is not None:
            body["text"] = text
        answer: dict[str, Any] = await self.ok("POST", "/chat", json=body)
        return answer

    async def inbox(self) -> list[dict[str, Any]]:
        answer = await self.ok("GET", f"/chat/messages?after={self.cursor}")
        self.cursor = answer["cursor"]
        messages: list[dict[str, Any]] = answer["messages"]
        return messages

    async def wait_inbox(
        self, count: int = 1, timeout: float = 10.0,  # noqa: ASYNC109 - part of the test API
    ) -> list[dict[str, Any]]:
        """The next ``count`` messages in the inbox, waiting for them."""
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while len(got) < count:
                got += await self.inbox()
                if len(got) < count:
                    await asyncio.sleep(0.05)
        return got


@asynccontextmanager
async def mini_program(system: System, name: str, *, login: bool = True
                       ) -> AsyncIterator[MiniProgram]:
    client = MiniProgram(system, name)
    try:
        if login:
            await client.login()
        yield client
    finally:
        await client.close()
