"""Ports: what the core needs from the outside world, as protocols.

Adapters in ``integrations/`` and ``nlu/`` implement these; the composition
root (``bot.wiring``) picks which. Each port has one contract test suite in
``tests/contracts/`` that every implementation must pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.state import ConversationState, ReplyWindow
from bot.types import Channel, ConversationKey, InboundMessage, Intent, OutboundMessage

__all__ = [
    "Acceptance",
    "ChannelSender",
    "Clock",
    "ConversationStore",
    "DeliveryQueue",
    "FallbackNotifier",
    "HealthCheck",
    "InboundJournal",
    "PendingDelivery",
    "ReplyWindows",
    "TokenStore",
    "TurnRecord",
    "Understanding",
]


class Clock(Protocol):
    def __call__(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class Understanding(Protocol):
    """Turns a resident's text into an intent, a category and entities."""

    async def parse(self, text: str) -> Intent: ...


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The journal's answer to an incoming delivery.

    ``new`` is true for exactly one of any number of concurrent or repeated
    deliveries of the same message, across all replicas. For a repeat,
    ``reply`` is the passive reply already given, when there was one, so a
    retried delivery can be answered the same way without processing again.
    """

    new: bool
    reply: OutboundMessage | None = None


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """What the dispatcher commits atomically at the end of one turn."""

    message: InboundMessage
    state: ConversationState
    intent: Intent | None
    handler: str
    passive_reply: OutboundMessage | None
    pushes: Sequence[OutboundMessage]


class InboundJournal(Protocol):
    """Durable record of every accepted inbound message: dedup, audit, recovery."""

    async def accept(
        self, message: InboundMessage, *, owner: str, lease_seconds: float
    ) -> Acceptance:
        """Store the message durably unless it is a repeat; lease it to ``owner``."""
        ...

    async def claim_unfinished(
        self, *, owner: str, lease_seconds: float, limit: int
    ) -> list[InboundMessage]:
        """Messages accepted but never finished whose lease ran out (a crash)."""
        ...


class ConversationStore(Protocol):
    async def load(self, key: ConversationKey) -> ConversationState:
        """The stored state, or a fresh one for a new conversation."""
        ...

    async def complete_turn(self, record: TurnRecord) -> None:
        """In one transaction: save the state (optimistic lock on ``version``,
        raising ``ConcurrentUpdate`` when it was changed meanwhile), mark the
        message finished with its passive reply, and queue the pushes."""
        ...


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    delivery_id: int
    key: ConversationKey
    message: OutboundMessage
    attempts: int
    created_at: datetime


class DeliveryQueue(Protocol):
    """The durable outbox of messages pushed to residents outside a passive reply."""

    async def enqueue(self, key: ConversationKey, messages: Sequence[OutboundMessage]) -> None: ...

    async def claim_due(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[PendingDelivery]:
        """Due deliveries, oldest first, at most one per conversation at a time
        so that a resident receives messages in order."""
        ...

    async def mark_sent(self, delivery_id: int, *, via: str) -> None: ...

    async def mark_failed(
        self, delivery_id: int, *, error: str, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt; ``retry_at=None`` gives up for good."""
        ...


class ReplyWindows(Protocol):
    """The channel's allowance for unsolicited pushes (WeChat's 48 h / 5 messages)."""

    async def open(self, message: InboundMessage) -> None: ...

    async def reserve(self, key: ConversationKey, now: datetime) -> bool:
        """Take one push from the allowance, atomically; false when none is left."""
        ...

    async def release(self, key: ConversationKey) -> None:
        """Give back a reserved push that was not delivered."""
        ...

    async def current(self, key: ConversationKey) -> ReplyWindow: ...


class TokenStore(Protocol):
    """A shared store for channel access tokens, so all replicas use one token."""

    async def get(self, name: str) -> tuple[str, datetime] | None: ...

    async def replace(
        self, name: str, token: str, expires_at: datetime, *, previous: str | None
    ) -> bool:
        """Store ``token`` only if the stored one is still ``previous``; false
        when another replica refreshed first."""
        ...


@runtime_checkable
class ChannelSender(Protocol):
    """Pushes a message to a resident on one channel."""

    channel: Channel

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        """Deliver now; return how it went out (e.g. ``"custom"``, ``"template"``).

        Raises ``DeliveryError`` to retry later, ``PermanentDeliveryError`` to
        give up."""
        ...


class FallbackNotifier(Protocol):
    """What a channel uses when its reply window is shut: subscribe/template messages."""

    async def notify(self, key: ConversationKey, message: OutboundMessage) -> None: ...


class HealthCheck(Protocol):
    name: str

    async def check(self) -> None:
        """Return when healthy; raise with a short reason otherwise."""
        ...
