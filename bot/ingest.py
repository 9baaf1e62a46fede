"""Ingest: the one entry point channel webhooks call with a parsed message.

It makes a message durable before anything else happens, processes every
message exactly once across retries and replicas, and decides whether the
answer goes back in the HTTP response (a passive reply, free and
unlimited on WeChat) or later through the outbox::

    webhook ──submit()──► journal.accept ──new──► task: dispatcher → complete_turn
       ▲                      │ repeat                        │
       │◄── stored reply ─────┘                               │ ready within budget?
       │◄──────────────────── passive reply ◄─────────yes─────┤
       └── "success" (after the budget) ; pushes ──► outbox ◄─no┘

A channel may prepare its messages in the turn, before the dispatcher sees
them (``preparers``: Telegram fetches a photo there), so the webhook's
answer never waits for that work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.dispatcher import Dispatcher
from bot.errors import ConcurrentUpdate
from bot.metrics import INBOUND, TURN_CONFLICTS, TURN_ERRORS, child
from bot.ports import (
    ConversationStore,
    DeliveryQueue,
    InboundJournal,
    InboundPreparer,
    TurnRecord,
)
from bot.state import ConversationState
from bot.types import Channel, InboundMessage, OutboundMessage
from bot.voice import INTERIM_REPLY, VoiceNotes

__all__ = ["Ingest", "Submission", "Submitter"]

log = logging.getLogger("minhu.ingest")

# How often a turn is re-run when another replica changed the same
# conversation between our load and our save.
MAX_CONFLICT_RETRIES = 3


@dataclass(frozen=True, slots=True)
class Submission:
    """What the webhook should answer right now.

    ``reply`` is the passive reply, or None to answer with a bare
    acknowledgement (the answer, if any, follows through the outbox).
    """

    reply: OutboundMessage | None
    duplicate: bool = False


class Submitter(Protocol):
    async def submit(
        self, message: InboundMessage, *, passive_budget: float | None
    ) -> Submission:
        """Accept ``message``; wait up to ``passive_budget`` seconds for an
        answer that can go back passively (None: never reply passively)."""
        ...


class Ingest:
    def __init__(
        self,
        *,
        journal: InboundJournal,
        store: ConversationStore,
        outbox: DeliveryQueue,
        dispatcher: Dispatcher,
        owner: str,
        lease_seconds: float,
        on_pushes: Callable[[], None] = lambda: None,
        passive_limits: Mapping[Channel, int] | None = None,
        voice: VoiceNotes | None = None,
        on_recorded: Callable[[], None] = lambda: None,
        preparers: Mapping[Channel, InboundPreparer] | None = None,
        on_state_read: Callable[[ConversationState], None] | None = None,
    ) -> None:
        self._journal = journal
        self._store = store
        self._outbox = outbox
        self._dispatcher = dispatcher
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._on_pushes = on_pushes
        # Called after a turn committed history lines (wakes the staff console).
        self._on_recorded = on_recorded
        # Longest passive reply per channel, in UTF-8 bytes of its plain text;
        # a longer answer goes through the outbox, whose sender splits it.
        self._passive_limits = dict(passive_limits or {})
        # Transcribes voice notes in the turn, before the dispatcher sees them.
        self.voice = voice
        # A channel's work on a message before its turn (Telegram: fetch the photo).
        self._preparers = dict(preparers or {})
        # Given the conversation's state the journal read at acceptance (the
        # state cache takes it when it is newer than its copy).
        self._on_state_read = on_state_read
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}

    async def submit(
        self, message: InboundMessage, *, passive_budget: float | None
    ) -> Submission:
        acceptance = await self._journal.accept(
            message, owner=self._owner, lease_seconds=self._lease_seconds
        )
        if not acceptance.new:
            _inbound_counter(message.key.channel, "duplicate").inc()
            return Submission(reply=acceptance.reply, duplicate=True)
        _inbound_counter(message.key.channel, "accepted").inc()
        if acceptance.state is not None and self._on_state_read is not None:
            self._on_state_read(acceptance.state)

        if passive_budget is None or passive_budget <= 0:
            self._spawn(self.process(message))
            return Submission(reply=None)
        loop = asyncio.get_running_loop()
        slot: asyncio.Future[OutboundMessage | None] = loop.create_future()
        # When the budget runs out the slot is closed with "no passive reply";
        # the turn sees it closed and routes its answer through the outbox.
        timer = loop.call_later(passive_budget, _close_slot, slot)
        interim = None
        if self.voice is not None and self.voice.wants(message):
            # A voice note is answered "正在识别语音…" when its transcript is not
            # back in time, even while an earlier turn of the resident still runs.
            delay = min(self.voice.interim_delay(), passive_budget * 0.75)
            interim = loop.call_later(delay, _fill_slot, slot, INTERIM_REPLY)
        self._spawn(self.process(message, slot))
        try:
            reply = await slot
        finally:
            timer.cancel()
            if interim is not None:
                interim.cancel()
        return Submission(reply=reply)

    async def process(
        self, message: InboundMessage, slot: asyncio.Future[OutboundMessage | None] | None = None
    ) -> None:
        """Run one turn to completion; safe to call again for a message whose
        earlier run crashed (recovery), since the turn commits atomically."""
        started = asyncio.get_running_loop().time()
        try:
            passive, queued = await self._run_turn(message, slot, started)
        except Exception:
            TURN_ERRORS.inc()
            log.exception(
                "turn failed; the message stays unfinished and will be retried",
                extra={"conversation": message.key.as_str(), "message_id": message.message_id},
            )
            if slot is not None and not slot.done():
                slot.set_result(None)
            return
        if passive is None:
            if slot is not None and not slot.done():
                slot.set_result(None)  # nothing to say passively: answer at once
        else:
            if slot is not None and not slot.done():
                slot.set_result(passive)
            else:
                # The webhook stopped waiting while we were committing.
                await self._outbox.enqueue(message.key, [passive])
                queued = True
        if queued:
            self._on_pushes()

    async def _run_turn(
        self, message: InboundMessage, slot: asyncio.Future[OutboundMessage | None] | None,
        started: float,
    ) -> tuple[OutboundMessage | None, bool]:
        key = message.key.as_str()
        async with self._conversation_lock(key):
            message = await self._prepare(message)
            # Inside the lock, so that what the resident sends next waits for
            # the transcript and the turns keep their order.
            if self.voice is not None and self.voice.wants(message):
                message = await self._transcribed(self.voice, message, slot, started)
            for attempt in range(1, MAX_CONFLICT_RETRIES + 1):
                outcome = await self._dispatcher.process(message)
                messages = list(outcome.messages)
                passive: OutboundMessage | None = None
                if (
                    messages
                    and slot is not None
                    and not slot.done()
                    and self._fits_passively(message, messages[0])
                ):
                    passive = messages.pop(0)
                record = TurnRecord(
                    message=message,
                    state=outcome.state,
                    intent=outcome.intent,
                    handler=outcome.handler,
                    passive_reply=passive,
                    pushes=messages,
                    history=outcome.history,
                )
                try:
                    await self._store.complete_turn(record)
                except ConcurrentUpdate:
                    TURN_CONFLICTS.inc()
                    if attempt == MAX_CONFLICT_RETRIES:
                        raise
                    continue
                if record.history:
                    self._on_recorded()
                return passive, bool(messages)
        raise AssertionError("unreachable")

    async def _transcribed(
        self, voice: VoiceNotes, message: InboundMessage,
        slot: asyncio.Future[OutboundMessage | None] | None, started: float,
    ) -> InboundMessage:
        """The voice note with its transcript. While the webhook waits, the
        timer armed by :meth:`submit` answers "正在识别语音…" passively when
        the transcript is late. Without a waiting webhook (Telegram, recovery),
        the same words are pushed through the outbox once ``voice.interim_after``
        seconds have passed since the turn began; the answer follows."""
        if slot is not None:
            return await voice.transcribe(message)
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(voice.transcribe(message))
        wait = voice.interim_delay() - (loop.time() - started)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout=max(wait, 0.0))
        except TimeoutError:
            pass
        await self._outbox.enqueue(message.key, [INTERIM_REPLY])
        self._on_pushes()
        return await task
    async def _prepare(self, message: InboundMessage) -> InboundMessage:
        preparer = self._preparers.get(message.key.channel)
        if preparer is None:
            return message
        try:
            return await preparer.prepare(message)
        except Exception:
            # The message as received is still worth a turn.
            log.exception(
                "preparing a message failed; processing it as received",
                extra={"conversation": message.key.as_str(), "message_id": message.message_id},
            )
            return message

    def _fits_passively(self, message: InboundMessage, reply: OutboundMessage) -> bool:
        limit = self._passive_limits.get(message.key.channel)
        return limit is None or len(reply.plain_text().encode("utf-8")) <= limit

    def _conversation_lock(self, key: str) -> _KeyLock:
        return _KeyLock(self, key)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def recover(self, *, limit: int = 100) -> int:
        """Process messages whose earlier run died with its replica."""
        messages = await self._journal.claim_unfinished(
            owner=self._owner, lease_seconds=self._lease_seconds, limit=limit
        )
        for message in messages:
            log.warning(
                "recovering an unfinished message",
                extra={"conversation": message.key.as_str(), "message_id": message.message_id},
            )
            await self.process(message)
        return len(messages)

    async def drain(self) -> None:
        """Wait for turns in flight (used on shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _inbound_counter(channel: Channel, outcome: str) -> Any:
    return child(INBOUND, channel.value, outcome)


def _fill_slot(slot: asyncio.Future[OutboundMessage | None], reply: OutboundMessage) -> None:
    if not slot.done():
        slot.set_result(reply)


def _close_slot(slot: asyncio.Future[OutboundMessage | None]) -> None:
    if not slot.done():
        slot.set_result(None)


class _KeyLock:
    """Serialises turns of one conversation within this process; the
    optimistic version check covers other replicas."""

    def __init__(self, owner: Ingest, key: str) -> None:
        self._owner = owner
        self._key = key

    async def __aenter__(self) -> None:
        owner = self._owner
        lock = owner._locks.get(self._key)
        if lock is None:
            lock = owner._locks[self._key] = asyncio.Lock()
        owner._lock_users[self._key] = owner._lock_users.get(self._key, 0) + 1
        await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        owner = self._owner
        owner._locks[self._key].release()
        owner._lock_users[self._key] -= 1
        if owner._lock_users[self._key] == 0:
            del owner._lock_users[self._key]
            del owner._locks[self._key]
