"""Conversation state: what the bot remembers about one resident.

State is a plain, JSON-serialisable record so that every store (SQLite,
PostgreSQL, an in-memory fake) can keep it the same way, and so that it
survives a restart: a handler that asked a question finds the question
again in ``awaiting`` when the answer arrives, even on another replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.types import ConversationKey, EventKind, InboundKind, InboundMessage

__all__ = ["ConversationState", "ReplyWindow", "window_allowance"]

# WeChat customer-service window (domain.md §2): after a user message the
# account may push 5 messages within 48 hours; after a menu click, follow or
# scan, 3 messages within 1 minute.
MESSAGE_WINDOW = timedelta(hours=48)
MESSAGE_WINDOW_QUOTA = 5
EVENT_WINDOW = timedelta(minutes=1)
EVENT_WINDOW_QUOTA = 3

# Events that are the resident's own act. Unsubscribing, automatic location
# reports and notices WeChat sends about our own pushes open no window.
_WINDOW_OPENING_EVENTS = frozenset({EventKind.SUBSCRIBE, EventKind.SCAN, EventKind.CLICK,
                                    EventKind.VIEW})


def window_allowance(message: InboundMessage) -> tuple[timedelta, int] | None:
    """How long, and for how many pushes, ``message`` opens the reply window."""
    if message.event is not None or message.kind is InboundKind.EVENT:
        if message.event in _WINDOW_OPENING_EVENTS:
            return EVENT_WINDOW, EVENT_WINDOW_QUOTA
        return None
    if message.kind is InboundKind.UNKNOWN and (message.raw_type or "").startswith("event"):
        return None
    return MESSAGE_WINDOW, MESSAGE_WINDOW_QUOTA


@dataclass(slots=True)
class ReplyWindow:
    """How many pushes the channel still allows after the resident's last act."""

    opened_at: datetime | None = None
    expires_at: datetime | None = None
    quota: int = 0
    used: int = 0

    def open_for(self, message: InboundMessage) -> None:
        """A new resident action resets the window (it does not add up)."""
        allowance = window_allowance(message)
        if allowance is None:
            return
        length, quota = allowance
        expires = message.received_at + length
        # A message window that is still open outlives a later click's
        # one-minute window: keep whichever lets us say more.
        if self.is_open(message.received_at) and self.expires_at and self.expires_at > expires:
            return
        self.opened_at = message.received_at
        self.expires_at = expires
        self.quota = quota
        self.used = 0

    def is_open(self, now: datetime) -> bool:
        return (
            self.expires_at is not None and now < self.expires_at and self.used < self.quota
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "quota": self.quota,
            "used": self.used,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ReplyWindow:
        if not data:
            return cls()
        return cls(
            opened_at=_dt(data.get("opened_at")),
            expires_at=_dt(data.get("expires_at")),
            quota=int(data.get("quota", 0)),
            used=int(data.get("used", 0)),
        )


def _dt(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


@dataclass(slots=True)
class ConversationState:
    """Everything about one conversation that outlives a single message.

    - ``flow``/``awaiting``: the flow in progress and the question it asked,
      so that the answer can skip NLU.
    - ``slots``: what the flow collected so far (JSON values only).
    - ``context``: things kept on the conversation outside any flow, such as
      the last location or photos sent.
    - ``unclear_turns``: consecutive turns the bot did not understand.
    - ``version``: optimistic-lock counter, bumped by the store on save.
    """

    key: ConversationKey
    flow: str | None = None
    awaiting: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    unclear_turns: int = 0
    last_active_at: datetime | None = None
    version: int = 0

    def start_flow(self, flow: str, awaiting: str | None = None) -> None:
        self.flow = flow
        self.awaiting = awaiting
        self.slots = {}

    def end_flow(self) -> None:
        self.flow = None
        self.awaiting = None
        self.slots = {}

    def data_json(self) -> dict[str, Any]:
        """The mutable part, as stored in one JSON column."""
        return {
            "flow": self.flow,
            "awaiting": self.awaiting,
            "slots": self.slots,
            "context": self.context,
            "unclear_turns": self.unclear_turns,
        }

    @classmethod
    def from_json(
        cls,
        key: ConversationKey,
        data: dict[str, Any] | None,
        *,
        version: int = 0,
        last_active_at: datetime | None = None,
    ) -> ConversationState:
        data = data or {}
        return cls(
            key=key,
            flow=data.get("flow"),
            awaiting=data.get("awaiting"),
            slots=dict(data.get("slots") or {}),
            context=dict(data.get("context") or {}),
            unclear_turns=int(data.get("unclear_turns", 0)),
            last_active_at=last_active_at,
            version=version,
        )
