"""Drive the real handlers through the dispatcher over in-memory storage."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.dispatcher import Dispatcher
from bot.errors import ConcurrentUpdate
from bot.handoff import HandoffDesk, ServiceHours
from bot.ingest import Ingest
from bot.ports import ConversationStore, TurnRecord
from bot.state import ConversationState
from bot.types import (
    Channel,
    ConversationKey,
    Entity,
    EventKind,
    InboundKind,
    InboundMessage,
    Intent,
    Location,
    OutboundMessage,
    StatusChange,
)
from handlers import build_handlers
from integrations.storage import Storage, memory_storage
from tests.handlers.fakes import FakeAlerts, FakeKnowledge, FakeTickets

KEY = ConversationKey(Channel.WECHAT, "gh_test", "oResident00000000000000001")
NEIGHBOUR = ConversationKey(Channel.WECHAT, "gh_test", "oNeighbour0000000000000001")
_ids = itertools.count(1)


def reading(
    name: str, category: str = "其他", *, confidence: float = 0.93, **entities: str
) -> Intent:
    """What NLU would say, confidently."""
    return Intent(
        name, confidence, category=category, category_confidence=0.8, source="rasa",
        entities=tuple(Entity(k, v) for k, v in entities.items()),
    )


def scripted(readings: Mapping[str, Intent]) -> Callable[[str], Intent]:
    """NLU that knows exactly these texts; any other text reaching it fails the
    test (answers to a pending question must not be sent to NLU)."""

    def parse(text: str) -> Intent:
        assert text in readings, f"NLU was asked about {text!r}"
        return readings[text]

    return parse


@dataclass
class ScriptedUnderstanding:
    """Answers with whatever ``script`` says for a text; counts calls."""

    script: Callable[[str], Intent]
    calls: list[str] = field(default_factory=list)

    async def parse(self, text: str) -> Intent:
        self.calls.append(text)
        return self.script(text)


class FlakyStore:
    """A conversation store whose commit fails as often as told, the way a
    concurrent update from another replica makes it fail."""

    def __init__(self, inner: ConversationStore) -> None:
        self._inner = inner
        self.failures_left = 0

    async def load(self, key: ConversationKey) -> ConversationState:
        return await self._inner.load(key)

    async def complete_turn(self, record: TurnRecord) -> None:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise ConcurrentUpdate("changed by another replica meanwhile")
        await self._inner.complete_turn(record)


@dataclass
class Conversation:
    storage: Storage
    understanding: ScriptedUnderstanding
    ingest: Ingest
    store: FlakyStore
    tickets: FakeTickets
    alerts: FakeAlerts
    knowledge: FakeKnowledge
    key: ConversationKey = KEY
    desk: HandoffDesk | None = None

    async def say(self, text: str) -> OutboundMessage:
        return await self.send(self.message(InboundKind.TEXT, text=text))

    async def press(self, payload: str, title: str = "") -> OutboundMessage:
        return await self.send(self.message(InboundKind.TEXT, text=title, payload=payload))

    async def send_photo(self, media_id: str, url: str | None = None) -> OutboundMessage:
        return await self.send(self.message(InboundKind.IMAGE, media_id=media_id, media_url=url))

    async def send_location(
        self, latitude: float, longitude: float, label: str | None = None
    ) -> OutboundMessage:
        location = Location(latitude, longitude, label)
        return await self.send(self.message(InboundKind.LOCATION, location=location))

    def message(self, kind: InboundKind, **fields: Any) -> InboundMessage:
        return InboundMessage(self.key, str(next(_ids)), kind, datetime.now(UTC), **fields)

    async def send(self, message: InboundMessage) -> OutboundMessage:
        submission = await self.ingest.submit(message, passive_budget=2.0)
        assert submission.reply is not None, "the bot said nothing"
        return submission.reply

    async def progress(self, change: StatusChange) -> list[OutboundMessage]:
        """Feed a ticket's status change as the ticket desk does; return what is pushed."""
        message = InboundMessage(
            self.key, f"ticket:{next(_ids)}", InboundKind.EVENT, datetime.now(UTC),
            event=EventKind.TICKET, status_change=change,
        )
        await self.ingest.submit(message, passive_budget=None)
        await self.ingest.drain()
        return await self.pushed()

    async def pushed(self) -> list[OutboundMessage]:
        """Everything waiting in the outbox, in order (and marked sent)."""
        messages: list[OutboundMessage] = []
        while True:
            due = await self.storage.outbox.claim_due(
                owner="test", now=datetime.now(UTC), lease_seconds=30, limit=10
            )
            if not due:
                return messages
            for delivery in due:
                messages.append(delivery.message)
                await self.storage.outbox.mark_sent(delivery.delivery_id, via="test")

    async def state(self) -> ConversationState:
        return await self.storage.conversations.load(self.key)

    def as_neighbour(self) -> Conversation:
        """The same bot, talking to another resident."""
        return Conversation(
            self.storage, self.understanding, self.ingest, self.store, self.tickets,
            self.alerts, self.knowledge, NEIGHBOUR, self.desk,
        )


class _LateIngest:
    def __init__(self) -> None:
        self.target: Ingest | None = None

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> object:
        assert self.target is not None
        return await self.target.submit(message, passive_budget=passive_budget)


def conversation(
    script: Callable[[str], Intent],
    *,
    tickets: FakeTickets | None = None,
    knowledge: FakeKnowledge | None = None,
    handoff: bool = True,
    hours: str = "always",
) -> Conversation:
    """The handlers over memory storage; ``handoff``: with a staff handoff desk
    (open ``hours``), else the resident is pointed to the hotline."""
    storage = memory_storage()
    understanding = ScriptedUnderstanding(script)
    tickets = tickets or FakeTickets()
    alerts = FakeAlerts()
    knowledge = knowledge or FakeKnowledge()
    store = FlakyStore(storage.conversations)
    events = _LateIngest()
    desk = HandoffDesk(
        store=storage.handoff, windows=storage.windows, events=events,
        clock=lambda: datetime.now(UTC), hours=ServiceHours(hours),
    ) if handoff else None
    dispatcher = Dispatcher(
        store=store, understanding=understanding,
        handlers=build_handlers(tickets=tickets, knowledge=knowledge, alerts=alerts,
                                handoff=desk),
        clock=lambda: datetime.now(UTC),
        handoff=desk,
    )
    ingest = Ingest(journal=storage.journal, store=store, outbox=storage.outbox,
                    dispatcher=dispatcher, owner="test", lease_seconds=30)
    events.target = ingest
    return Conversation(storage, understanding, ingest, store, tickets, alerts, knowledge,
                        desk=desk)
