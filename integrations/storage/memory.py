"""In-memory implementations of the storage ports, for fast unit tests.

Same semantics as the SQL repositories (the contract suite runs against
both): data is kept as JSON-encoded snapshots, so a caller mutating an
object after a call never changes what is stored, and a value that would
not survive a JSON column fails here too. No method awaits while it reads
and changes the shared data, so every method is atomic on the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.errors import ConcurrentUpdate
from bot.ports import Acceptance, HistoryLine, PendingDelivery, TurnRecord
from bot.state import ConversationState, ReplyWindow
from bot.types import AuditEntry, ConversationKey, HandoffCase, InboundMessage, OutboundMessage
from integrations.storage.codec import (
    as_utc,
    inbound_from_json,
    inbound_to_json,
    outbound_from_json,
    outbound_to_json,
    utc_now,
)
from integrations.storage.handoff_models import history_rows
from integrations.storage.models import DeliveryStatus, InboundStatus
from integrations.storage.repositories import MAX_RECOVERY_ATTEMPTS, _window_for

__all__ = [
    "MemoryConversationStore",
    "MemoryDatabase",
    "MemoryDeliveryQueue",
    "MemoryHealth",
    "MemoryInboundJournal",
    "MemoryReplyWindows",
    "MemoryTokenStore",
]

Clock = Callable[[], datetime]


def _snapshot(value: Any) -> Any:
    """What a JSON column would give back."""
    return json.loads(json.dumps(value, ensure_ascii=False))


@dataclass(slots=True)
class _Inbound:
    id: int
    conversation_key: str
    message: dict[str, Any]
    status: str
    lease_owner: str | None
    lease_until: datetime | None
    attempts: int
    received_at: datetime
    intent_name: str | None = None
    intent_confidence: float | None = None
    category: str | None = None
    handler: str | None = None
    passive_reply: dict[str, Any] | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class _Conversation:
    data: dict[str, Any]
    version: int
    last_active_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class _Delivery:
    id: int
    conversation_key: str
    message: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    via: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass(slots=True)
class MemoryDatabase:
    """The shared tables of one in-memory store."""

    clock: Clock = utc_now
    inbound: dict[tuple[str, str, str], _Inbound] = field(default_factory=dict)
    conversations: dict[str, _Conversation] = field(default_factory=dict)
    deliveries: dict[int, _Delivery] = field(default_factory=dict)
    windows: dict[str, ReplyWindow] = field(default_factory=dict)
    tokens: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)
    # The staff handoff (integrations.storage.handoff.MemoryHandoffStore).
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    history_sources: set[str] = field(default_factory=set)
    handoff_cases: dict[str, HandoffCase] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    _next_id: int = 0

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def now(self) -> datetime:
        return as_utc(self.clock())

    def add_history(
        self, lines: Sequence[HistoryLine], *, delivery_id: int | None = None
    ) -> list[int]:
        """Number and keep ``lines``, skipping those whose source is kept already."""
        ids: list[int] = []
        for row in history_rows(lines):
            source = row["source"]
            if source is not None:
                if source in self.history_sources:
                    continue
                self.history_sources.add(source)
            entry_id = self.next_id()
            row["delivery_id"] = delivery_id
            self.history[entry_id] = row
            ids.append(entry_id)
        return ids

    def add_deliveries(self, key: str, messages: Sequence[OutboundMessage]) -> list[int]:
        now = self.now()
        ids: list[int] = []
        for message in messages:
            delivery_id = self.next_id()
            ids.append(delivery_id)
            self.deliveries[delivery_id] = _Delivery(
                id=delivery_id,
                conversation_key=key,
                message=_snapshot(outbound_to_json(message)),
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        return ids

    def open_window(self, message: InboundMessage) -> None:
        key = message.key.as_str()
        window = _window_for(message)
        if window is None:
            return
        opened, expires, quota = window
        current = self.windows.get(key)
        if (
            current is not None
            and current.expires_at is not None
            and current.expires_at > opened
            and current.used < current.quota
            and current.expires_at > expires
        ):
            return
        self.windows[key] = ReplyWindow(opened_at=opened, expires_at=expires, quota=quota, used=0)


def _delivery_key(message: InboundMessage) -> tuple[str, str, str]:
    return (message.key.channel.value, message.key.account, message.message_id)


async def _yield() -> None:
    # Give other tasks a chance to run, as a database round trip would.
    await asyncio.sleep(0)


def _stored_state(db: MemoryDatabase, key: ConversationKey) -> ConversationState:
    row = db.conversations.get(key.as_str())
    if row is None:
        return ConversationState(key=key)
    return ConversationState.from_json(
        key, _snapshot(row.data), version=row.version, last_active_at=row.last_active_at
    )


class MemoryInboundJournal:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def accept(
        self, message: InboundMessage, *, owner: str, lease_seconds: float
    ) -> Acceptance:
        await _yield()
        db = self._db
        ident = _delivery_key(message)
        row = db.inbound.get(ident)
        if row is None:
            db.inbound[ident] = _Inbound(
                id=db.next_id(),
                conversation_key=message.key.as_str(),
                message=_snapshot(inbound_to_json(message)),
                status=InboundStatus.ACCEPTED,
                lease_owner=owner,
                lease_until=db.now() + timedelta(seconds=lease_seconds),
                attempts=1,
                received_at=as_utc(message.received_at),
            )
            return Acceptance(new=True, state=_stored_state(db, message.key))
        if row.status != InboundStatus.FINISHED or row.passive_reply is None:
            return Acceptance(new=False)
        return Acceptance(new=False, reply=outbound_from_json(row.passive_reply))

    async def claim_unfinished(
        self, *, owner: str, lease_seconds: float, limit: int
    ) -> list[InboundMessage]:
        await _yield()
        db = self._db
        now = db.now()
        claimed: list[_Inbound] = []
        for row in sorted(db.inbound.values(), key=lambda r: r.id):
            if row.status != InboundStatus.ACCEPTED:
                continue
            if row.lease_until is None or row.lease_until > now:
                continue
            if row.attempts >= MAX_RECOVERY_ATTEMPTS:
                row.status = InboundStatus.FAILED
                row.lease_owner = None
                row.lease_until = None
                row.finished_at = now
                continue
            if len(claimed) < limit:
                row.lease_owner = owner
                row.lease_until = now + timedelta(seconds=lease_seconds)
                row.attempts += 1
                claimed.append(row)
        return [inbound_from_json(row.message) for row in claimed]

    def status_of(self, message: InboundMessage) -> str | None:
        """The stored status (for tests)."""
        row = self._db.inbound.get(_delivery_key(message))
        return None if row is None else row.status


class MemoryConversationStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def load(self, key: ConversationKey) -> ConversationState:
        await _yield()
        return _stored_state(self._db, key)

    async def complete_turn(self, record: TurnRecord) -> None:
        await _yield()
        db = self._db
        state = record.state
        message = record.message
        key = state.key.as_str()
        now = db.now()
        data = _snapshot(state.data_json())  # fails like a JSON column would, before any change
        last_active = as_utc(state.last_active_at or message.received_at)
        current = db.conversations.get(key)
        stored_version = 0 if current is None else current.version
        if stored_version != state.version:
            raise ConcurrentUpdate(f"conversation {key} changed since version {state.version}")
        # Everything below is one atomic step: no await from here on.
        db.conversations[key] = _Conversation(
            data=data,
            version=state.version + 1,
            last_active_at=last_active,
            created_at=current.created_at if current else now,
            updated_at=now,
        )
        ident = _delivery_key(message)
        row = db.inbound.get(ident)
        if row is None:
            row = db.inbound[ident] = _Inbound(
                id=db.next_id(),
                conversation_key=message.key.as_str(),
                message=_snapshot(inbound_to_json(message)),
                status=InboundStatus.FINISHED,
                lease_owner=None,
                lease_until=None,
                attempts=1,
                received_at=as_utc(message.received_at),
            )
        intent = record.intent
        row.status = InboundStatus.FINISHED
        row.lease_owner = None
        row.lease_until = None
        row.intent_name = intent.name if intent else None
        row.intent_confidence = intent.confidence if intent else None
        row.category = intent.category if intent else None
        row.handler = record.handler
        row.passive_reply = (
            _snapshot(outbound_to_json(record.passive_reply)) if record.passive_reply else None
        )
        row.finished_at = now
        db.add_deliveries(key, record.pushes)
        db.add_history(record.history)
        db.open_window(message)
        state.version += 1
        state.last_active_at = last_active


class MemoryDeliveryQueue:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def enqueue(self, key: ConversationKey, messages: Sequence[OutboundMessage]) -> None:
        await _yield()
        self._db.add_deliveries(key.as_str(), messages)

    async def claim_due(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[PendingDelivery]:
        await _yield()
        now = as_utc(now)
        oldest: dict[str, _Delivery] = {}
        for row in sorted(self._db.deliveries.values(), key=lambda r: r.id):
            if row.status == DeliveryStatus.PENDING and row.conversation_key not in oldest:
                oldest[row.conversation_key] = row
        claimed: list[PendingDelivery] = []
        for row in sorted(oldest.values(), key=lambda r: r.id):
            if len(claimed) >= limit:
                break
            if row.next_attempt_at > now:
                continue
            if row.lease_until is not None and row.lease_until > now:
                continue
            row.lease_owner = owner
            row.lease_until = now + timedelta(seconds=lease_seconds)
            claimed.append(
                PendingDelivery(
                    delivery_id=row.id,
                    key=ConversationKey.parse(row.conversation_key),
                    message=outbound_from_json(row.message),
                    attempts=row.attempts,
                    created_at=row.created_at,
                )
            )
        return claimed

    async def mark_sent(self, delivery_id: int, *, via: str) -> None:
        await _yield()
        row = self._db.deliveries.get(delivery_id)
        if row is None:
            return
        row.status = DeliveryStatus.SENT
        row.via = via
        row.attempts += 1
        row.lease_owner = None
        row.lease_until = None
        row.sent_at = self._db.now()

    async def mark_failed(self, delivery_id: int, *, error: str, retry_at: datetime | None) -> None:
        await _yield()
        row = self._db.deliveries.get(delivery_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = error
        row.lease_owner = None
        row.lease_until = None
        if retry_at is None:
            row.status = DeliveryStatus.DEAD
        else:
            row.status = DeliveryStatus.PENDING
            row.next_attempt_at = as_utc(retry_at)


class MemoryReplyWindows:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def open(self, message: InboundMessage) -> None:
        await _yield()
        self._db.open_window(message)

    async def reserve(self, key: ConversationKey, now: datetime) -> bool:
        await _yield()
        window = self._db.windows.get(key.as_str())
        if window is None or window.expires_at is None:
            return False
        if not (window.expires_at > as_utc(now) and window.used < window.quota):
            return False
        window.used += 1
        return True

    async def release(self, key: ConversationKey) -> None:
        await _yield()
        window = self._db.windows.get(key.as_str())
        if window is not None and window.used > 0:
            window.used -= 1

    async def current(self, key: ConversationKey) -> ReplyWindow:
        await _yield()
        window = self._db.windows.get(key.as_str())
        if window is None:
            return ReplyWindow()
        return ReplyWindow(
            opened_at=window.opened_at,
            expires_at=window.expires_at,
            quota=window.quota,
            used=window.used,
        )


class MemoryTokenStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def get(self, name: str) -> tuple[str, datetime] | None:
        await _yield()
        row = self._db.tokens.get(name)
        return None if row is None else (row[0], row[1])

    async def replace(
        self, name: str, token: str, expires_at: datetime, *, previous: str | None
    ) -> bool:
        await _yield()
        current = self._db.tokens.get(name)
        if (current[0] if current else None) != previous:
            return False
        self._db.tokens[name] = (token, as_utc(expires_at), self._db.now())
        return True


class MemoryHealth:
    name = "database"

    async def check(self) -> None:
        return None
