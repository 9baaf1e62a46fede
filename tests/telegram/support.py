"""The Telegram side of the end-to-end tests: a resident's client, and the system.

The resident's updates are posted to ``/telegram`` with the secret header,
as Telegram's servers would; what the bot sends goes, through PTB's own
HTTP client, to the fake Bot API on 127.0.0.1, which records it. The
resident reads their chat there and presses the inline buttons they see.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text as sql

from integrations.telegram.fake_bot_api import Call, FakeBotAPI
from tests.support import System, running_system

TOKEN = "7000000001:AAminhu-e2e-test-token-000000000000"
BOT_ID = "7000000001"
SECRET = "minhu-e2e-telegram-secret_1"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Update ids are unique across every resident of a test (Telegram numbers them per bot).
_UPDATE_IDS = itertools.count(500_000)
_MESSAGE_IDS = itertools.count(1)


def next_update_id() -> int:
    return next(_UPDATE_IDS)


@asynccontextmanager
async def telegram_system(
    tmp_path: Path, fake: FakeBotAPI, base_url: str, **overrides: Any
) -> AsyncIterator[System]:
    values: dict[str, Any] = {
        "telegram_token": TOKEN,
        "telegram_secret": SECRET,
        "telegram_api_base": base_url,
        "media_dir": str(tmp_path / "media"),
    }
    values.update(overrides)
    async with running_system(tmp_path, **values) as system:
        yield system


class TelegramResident:
    """One person in a private chat with the bot."""

    def __init__(self, system: System, fake: FakeBotAPI, chat_id: int,
                 first_name: str = "居民") -> None:
        self.system = system
        self.fake = fake
        self.chat_id = chat_id
        self.first_name = first_name
        self._seen = 0

    # -- what the resident does -----------------------------------------------------------

    def _user(self) -> dict[str, Any]:
        return {"id": self.chat_id, "is_bot": False, "first_name": self.first_name,
                "language_code": "zh-hans"}

    def message(self, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(_UPDATE_IDS),
            "message": {
                "message_id": next(_MESSAGE_IDS),
                "from": self._user(),
                "chat": {"id": self.chat_id, "type": "private",
                         "first_name": self.first_name},
                "date": 1_765_000_000,
                **content,
            },
        }

    async def post(self, update: dict[str, Any], *, secret: str | None = SECRET
                   ) -> httpx.Response:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        return await self.system.http.post("/telegram", json=update, headers=headers)

    async def send(self, update: dict[str, Any]) -> None:
        response = await self.post(update)
        assert response.status_code == 200, response.text

    async def say(self, text: str) -> list[str]:
        """Type ``text``; the bot's answers to it."""
        await self.send(self.message(text=text, **_command_entity(text)))
        return await self.replies()

    async def press(self, title: str, *, within: Call | None = None) -> list[str]:
        """Press the inline button titled ``title`` under the latest message that has one."""
        call = within or self.last_keyboard()
        data = next((d for t, d in call.buttons() if t == title), None)
        assert data is not None, f"no button {title!r} in {call.buttons()} of {call.text!r}"
        assert call.message_id is not None
        sent = self.fake.sent_message(call.message_id)
        update = {
            "update_id": next(_UPDATE_IDS),
            "callback_query": {
                "id": f"cbq-{next(_MESSAGE_IDS)}",
                "from": self._user(),
                "chat_instance": f"ci-{self.chat_id}",
                "message": sent,
                "data": data,
            },
        }
        await self.send(update)
        return await self.replies()

    # -- what the resident sees -----------------------------------------------------------

    def chat(self) -> list[Call]:
        return self.fake.sent(self.chat_id)

    def last_keyboard(self) -> Call:
        for call in reversed(self.chat()):
            if call.buttons():
                return call
        raise AssertionError(f"no message with buttons in {[c.text for c in self.chat()]}")

    async def replies(self, count: int = 1, *, within: float = 10.0) -> list[str]:
        """Wait for at least ``count`` new messages in the chat; all the new ones."""
        await self.fake.wait_for(lambda _: len(self.chat()) >= self._seen + count,
                                 within=within)
        # Answers of one turn come in one outbox batch; let the rest of it arrive.
        await self.system.container.ingest.drain()
        await _settle(self)
        new = self.chat()[self._seen:]
        self._seen += len(new)
        return [c.text for c in new]

    async def no_more_messages(self, within: float = 0.5) -> None:
        try:
            await self.fake.wait_for(lambda _: len(self.chat()) > self._seen, within=within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {self.chat()[self._seen].text}")


async def _settle(resident: TelegramResident) -> None:
    """Until nothing is left in the outbox for this chat."""
    engine = resident.system.storage.engine
    assert engine is not None
    key = f"telegram:{BOT_ID}:{resident.chat_id}"
    for _ in range(200):
        async with engine.connect() as conn:
            pending = (await conn.execute(
                # Fresh deliveries only: one waiting for a retry is not due yet.
                sql("SELECT count(*) FROM deliveries WHERE conversation_key = :key "
                    "AND status = 'pending' AND attempts = 0"),
                {"key": key},
            )).scalar_one()
        if not pending:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the outbox did not empty")


def _command_entity(text: str) -> dict[str, Any]:
    if not text.startswith("/"):
        return {}
    length = len(text.split()[0])
    return {"entities": [{"type": "bot_command", "offset": 0, "length": length}]}
