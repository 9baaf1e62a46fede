"""Drive the real handlers through the dispatcher over in-memory storage."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.dispatcher import Dispatcher
from bot.ingest import Ingest
from bot.types import Channel, ConversationKey, InboundKind, InboundMessage, Intent, OutboundMessage
from handlers import build_handlers
from integrations.storage import Storage, memory_storage

KEY = ConversationKey(Channel.WECHAT, "gh_test", "oResident00000000000000001")
_ids = itertools.count(1)


@dataclass
class ScriptedUnderstanding:
    """Answers with whatever ``script`` says for a text; counts calls."""

    script: Callable[[str], Intent]
    calls: list[str] = field(default_factory=list)

    async def parse(self, text: str) -> Intent:
        self.calls.append(text)
        return self.script(text)


@dataclass
class Conversation:
    storage: Storage
    understanding: ScriptedUnderstanding
    ingest: Ingest

    async def say(self, text: str) -> OutboundMessage:
        return await self._send(InboundMessage(
            KEY, str(next(_ids)), InboundKind.TEXT, datetime.now(UTC), text=text))

    async def press(self, payload: str, title: str = "") -> OutboundMessage:
        return await self._send(InboundMessage(
            KEY, str(next(_ids)), InboundKind.TEXT, datetime.now(UTC), text=title,
            payload=payload))

    async def _send(self, message: InboundMessage) -> OutboundMessage:
        submission = await self.ingest.submit(message, passive_budget=2.0)
        assert submission.reply is not None, "the bot said nothing"
        return submission.reply


def conversation(script: Callable[[str], Intent]) -> Conversation:
    storage = memory_storage()
    understanding = ScriptedUnderstanding(script)
    dispatcher = Dispatcher(store=storage.conversations, understanding=understanding,
                            handlers=build_handlers(), clock=lambda: datetime.now(UTC))
    ingest = Ingest(journal=storage.journal, store=storage.conversations, outbox=storage.outbox,
                    dispatcher=dispatcher, owner="test", lease_seconds=30)
    return Conversation(storage, understanding, ingest)
