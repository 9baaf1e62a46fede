"""The simulator's Telegram mode: plays Telegram towards the app's ``/telegram``.

A resident's action on the page becomes the Update JSON Telegram would
post, with the secret header, to the bot's webhook; what the bot sends
goes (through its own PTB client, ``MINHU_TELEGRAM_API_BASE``) to the fake
Bot API mounted at ``/simulator/telegram-api``, and the page shows it,
inline keyboards included. Routes::

    GET  /simulator/telegram                       the chat page
    GET  /simulator/telegram/static/telegram_page.js
    GET  /simulator/telegram/api/state             residents, places, commands
    GET  /simulator/telegram/api/transcript?chat=  the chat, both sides
    POST /simulator/telegram/api/send              text, photo, voice, location, contact
    POST /simulator/telegram/api/press             an inline button
    *    /simulator/telegram-api/bot<token>/...    the fake Bot API

Development only: mounted with the rest of the simulator.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from integrations.telegram.fake_bot_api import FakeBotAPI
from integrations.telegram.webhook import SECRET_HEADER

from .router import PAGE_CSP
from .samples import PLACES, RESIDENTS, sample_photo_png

__all__ = ["TelegramSimulator", "build_telegram_simulator_router", "mount_telegram_simulator"]

API_PATH = "/simulator/telegram-api"
# Chat ids of the built-in residents (Telegram user ids are positive integers).
FIRST_CHAT_ID = 880001
COMMANDS = ("/start", "/status", "/help", "/cancel")
SAMPLE_PHONE = "+86 138 0013 8000"


@dataclass
class _Said:
    """Something the resident did, as the page shows it."""

    at: float
    kind: str
    text: str
    status: int


@dataclass
class _Chat:
    chat_id: int
    name: str
    note: str
    said: list[_Said] = field(default_factory=list)


class TelegramSimulator:
    def __init__(
        self, *, fake: FakeBotAPI, http: httpx.AsyncClient, webhook_url: str, secret: str
    ) -> None:
        self.fake = fake
        self._http = http
        self.webhook_url = webhook_url
        self._secret = secret
        # Telegram's update ids only grow; start from the clock so that a
        # restarted simulator on the same database is not taken for a repeat.
        self._update_ids = itertools.count(int(time.time() * 1000))
        self._message_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.chats = {
            FIRST_CHAT_ID + i: _Chat(FIRST_CHAT_ID + i, r.name, r.note)
            for i, r in enumerate(RESIDENTS)
        }

    def _user(self, chat: _Chat) -> dict[str, Any]:
        return {"id": chat.chat_id, "is_bot": False, "first_name": chat.name,
                "language_code": "zh-hans"}

    def _message(self, chat: _Chat, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "from": self._user(chat),
            "chat": {"id": chat.chat_id, "type": "private", "first_name": chat.name},
            **content,
        }

    async def _post(self, chat: _Chat, update: dict[str, Any], kind: str, shown: str) -> int:
        try:
            response = await self._http.post(
                self.webhook_url, json=update, headers={SECRET_HEADER.decode(): self._secret}
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        with self._lock:
            chat.said.append(_Said(time.time(), kind, shown, status))
        return status

    async def send(self, chat: _Chat, body: SendIn) -> int:
        content: dict[str, Any]
        shown = body.text or ""
        if body.kind == "text":
            text = (body.text or "").strip()
            content = {"text": text}
            if text.startswith("/"):
                content["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
                ]
        elif body.kind == "photo":
            n = next(self._message_ids)
            # The bot downloads the photo (getFile) as it would from Telegram.
            self.fake.add_file(f"sim-photo-{n}", sample_photo_png())
            content = {"photo": [
                {"file_id": f"sim-photo-{n}-s", "file_unique_id": f"s{n}", "width": 90,
                 "height": 68},
                {"file_id": f"sim-photo-{n}", "file_unique_id": f"l{n}", "width": 1280,
                 "height": 960},
            ]}
            if body.text:
                content["caption"] = body.text
            shown = "[照片]" + (f" {body.text}" if body.text else "")
        elif body.kind == "voice":
            n = next(self._message_ids)
            content = {"voice": {"file_id": f"sim-voice-{n}", "file_unique_id": f"v{n}",
                                 "duration": 4, "mime_type": "audio/ogg"}}
            shown = "[语音 4″]"
        elif body.kind == "location":
            place = next((p for p in PLACES if p.key == body.place), PLACES[0])
            point = {"latitude": place.latitude, "longitude": place.longitude}
            content = {"venue": {"location": point, "title": place.label, "address": ""},
                       "location": point}
            shown = f"[位置] {place.label}"
        else:
            content = {"contact": {"phone_number": body.text or SAMPLE_PHONE,
                                   "first_name": chat.name, "user_id": chat.chat_id}}
            shown = f"[联系人] {body.text or SAMPLE_PHONE}"
        update = {"update_id": next(self._update_ids), "message": self._message(chat, **content)}
        return await self._post(chat, update, body.kind, shown)

    async def press(self, chat: _Chat, message_id: int, data: str) -> int:
        message = self.fake.sent_message(message_id)
        if message is None or str(message.get("chat", {}).get("id")) != str(chat.chat_id):
            return 404
        title = next(
            (b.get("text", "") for row in message.get("reply_markup", {}).get("inline_keyboard", [])
             for b in row if b.get("callback_data") == data),
            None,
        )
        if title is None:
            return 404
        update = {"update_id": next(self._update_ids), "callback_query": {
            "id": f"sim-cbq-{next(self._message_ids)}", "from": self._user(chat),
            "chat_instance": f"sim-{chat.chat_id}", "message": message, "data": data,
        }}
        return await self._post(chat, update, "press", f"[按钮] {title}")

    def transcript(self, chat: _Chat) -> list[dict[str, Any]]:
        with self._lock:
            entries: list[dict[str, Any]] = [
                {"at": s.at, "from": "resident", "kind": s.kind, "text": s.text,
                 "status": s.status}
                for s in chat.said
            ]
        for call in self.fake.calls(chat_id=chat.chat_id):
            if call.method not in ("sendMessage", "sendPhoto"):
                continue
            entries.append({
                "at": call.at, "from": "bot", "kind": call.method, "text": call.text,
                "status": call.status, "message_id": call.message_id,
                "buttons": [[t, d] for t, d in call.buttons()],
            })
        entries.sort(key=lambda e: e["at"])
        return entries

    def snapshot(self) -> dict[str, Any]:
        return {
            "residents": [{"chat_id": c.chat_id, "name": c.name, "note": c.note}
                          for c in self.chats.values()],
            "places": [{"key": p.key, "label": p.label} for p in PLACES],
            "commands": list(COMMANDS),
            "webhook_url": self.webhook_url,
            "bot": {"username": self.fake.username, "name": self.fake.first_name},
            "sample_phone": SAMPLE_PHONE,
        }


class SendIn(BaseModel):
    chat: int
    kind: Literal["text", "photo", "voice", "location", "contact"] = "text"
    text: str | None = Field(default=None, max_length=4096)
    place: str | None = None


class PressIn(BaseModel):
    chat: int
    message_id: int
    data: str = Field(min_length=1, max_length=64)


@cache
def _asset(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def build_telegram_simulator_router(sim: TelegramSimulator) -> APIRouter:
    router = APIRouter(tags=["simulator"])

    @router.get("/simulator/telegram", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            _asset("telegram_page.html"),
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
        )

    @router.get("/simulator/telegram/static/telegram_page.js", include_in_schema=False)
    async def script() -> Response:
        return Response(_asset("telegram_page.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    @router.get("/simulator/telegram/api/state")
    async def state() -> dict[str, Any]:
        return sim.snapshot()

    @router.get("/simulator/telegram/api/transcript")
    async def transcript(chat: Annotated[int, Query()]) -> Response:
        found = sim.chats.get(chat)
        if found is None:
            return _bad("unknown chat", 404)
        return JSONResponse({"entries": sim.transcript(found)})

    @router.post("/simulator/telegram/api/send")
    async def send(body: SendIn) -> Response:
        found = sim.chats.get(body.chat)
        if found is None:
            return _bad("unknown chat", 404)
        if body.kind == "text" and not (body.text or "").strip():
            return _bad("empty text")
        return JSONResponse({"status": await sim.send(found, body)})

    @router.post("/simulator/telegram/api/press")
    async def press(body: PressIn) -> Response:
        found = sim.chats.get(body.chat)
        if found is None:
            return _bad("unknown chat", 404)
        status = await sim.press(found, body.message_id, body.data)
        if status == 404:
            return _bad("no such button", 404)
        return JSONResponse({"status": status})

    return router


def mount_telegram_simulator(
    app: FastAPI, *, http: httpx.AsyncClient, public_base_url: str, token: str, secret: str
) -> TelegramSimulator:
    """The page, its endpoints and the fake Bot API (point MINHU_TELEGRAM_API_BASE
    at ``{public_base_url}/simulator/telegram-api``)."""
    sim = TelegramSimulator(
        fake=FakeBotAPI(token=token), http=http,
        webhook_url=f"{public_base_url.rstrip('/')}/telegram", secret=secret,
    )
    app.include_router(build_telegram_simulator_router(sim))

    async def bot_api(scope: Scope, receive: Receive, send: Send) -> None:
        await sim.fake.app(scope, receive, send)  # looked up per request: tests swap it

    app.mount(API_PATH, bot_api)
    return sim
