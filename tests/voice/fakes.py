"""A fake speech engine and audio source, and a conversation wired with them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.dispatcher import Dispatcher
from bot.errors import ChannelAPIError, PayloadTooLarge
from bot.ingest import Ingest
from bot.ports import Transcript
from bot.types import Channel, EventKind, InboundKind, InboundMessage, Intent, Location
from bot.voice import VoiceNotes
from handlers import build_handlers
from integrations.storage import memory_storage
from tests.handlers.fakes import FakeAlerts, FakeKnowledge, FakeTickets
from tests.handlers.harness import Conversation, FlakyStore, ScriptedUnderstanding

_ids = itertools.count(1)


@dataclass
class FakeSpeech:
    """``audio`` is the text it says (UTF-8), or the name of an error to raise."""

    delay: float = 0.0
    calls: list[tuple[bytes, str | None]] = field(default_factory=list)
    errors: dict[bytes, Exception] = field(default_factory=dict)

    async def transcribe(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript:
        self.calls.append((audio, audio_format))
        if self.delay:
            await asyncio.sleep(self.delay)
        error = self.errors.get(audio)
        if error is not None:
            raise error
        return Transcript(text=audio.decode("utf-8"), duration_seconds=3.0,
                          seconds_spent=self.delay, engine="fake")


@dataclass
class FakeSource:
    media: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, message: InboundMessage, *, max_bytes: int) -> bytes:
        assert message.media_id is not None
        self.fetched.append(message.media_id)
        data = self.media.get(message.media_id)
        if data is None:
            raise ChannelAPIError("invalid media_id", code=40007)
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"{len(data)} bytes")
        return data


@dataclass
class VoiceConversation(Conversation):
    speech: FakeSpeech = field(default_factory=FakeSpeech)
    source: FakeSource = field(default_factory=FakeSource)

    def voice_message(self, said: str | bytes, **fields: Any) -> InboundMessage:
        """A voice note without a channel transcript, whose audio "says" ``said``."""
        media_id = f"media-{next(_ids)}"
        self.source.media[media_id] = said.encode("utf-8") if isinstance(said, str) else said
        return self.message(InboundKind.VOICE, media_id=media_id, media_format="amr", **fields)

    async def speak(self, said: str | bytes) -> Any:
        return await self.send(self.voice_message(said))

    async def location_event(self, latitude: float, longitude: float) -> None:
        """WeChat's automatic location report (no answer expected)."""
        message = InboundMessage(
            self.key, f"loc-{next(_ids)}", InboundKind.EVENT, datetime.now(UTC),
            event=EventKind.LOCATION, location=Location(latitude, longitude),
        )
        submission = await self.ingest.submit(message, passive_budget=2.0)
        assert submission.reply is None


def voice_conversation(
    script: Callable[[str], Intent], *, tickets: FakeTickets | None = None,
    speech: FakeSpeech | None = None, interim_after: float = 1.5, lease_seconds: float = 30,
) -> VoiceConversation:
    storage = memory_storage()
    understanding = ScriptedUnderstanding(script)
    tickets = tickets or FakeTickets()
    alerts = FakeAlerts()
    knowledge = FakeKnowledge()
    store = FlakyStore(storage.conversations)
    dispatcher = Dispatcher(
        store=store, understanding=understanding,
        handlers=build_handlers(tickets=tickets, knowledge=knowledge, alerts=alerts,
                                understanding=understanding),
        clock=lambda: datetime.now(UTC),
    )
    speech = speech or FakeSpeech()
    source = FakeSource()
    voice = VoiceNotes(speech, {Channel.WECHAT: source}, interim_after=interim_after)
    ingest = Ingest(journal=storage.journal, store=store, outbox=storage.outbox,
                    dispatcher=dispatcher, owner="test", lease_seconds=lease_seconds,
                    voice=voice)
    return VoiceConversation(storage, understanding, ingest, store, tickets, alerts, knowledge,
                             speech=speech, source=source)
