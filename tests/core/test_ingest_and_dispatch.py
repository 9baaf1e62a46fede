"""The core loop over in-memory storage: exactly once, passive or pushed, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import Backoff, DeliveryWorker
from bot.dispatcher import Dispatcher
from bot.errors import DeliveryError, PermanentDeliveryError
from bot.handling import Turn, intent_button
from bot.ingest import Ingest
from bot.types import (
    Channel,
    ConversationKey,
    InboundKind,
    InboundMessage,
    Intent,
    OutboundMessage,
)
from integrations.storage import Storage, memory_storage

KEY = ConversationKey(Channel.WECHAT, "gh_test", "oUser000000000000000000000001")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class CountingUnderstanding:
    texts: list[str] = field(default_factory=list)

    async def parse(self, text: str) -> Intent:
        self.texts.append(text)
        return Intent(name="greet" if "你好" in text else "complain", confidence=0.9)


@dataclass
class EchoHandler:
    """Echoes the text; waits ``delay`` seconds first; fails on '炸'."""

    delay: float = 0.0
    calls: list[str] = field(default_factory=list)
    name: str = "echo"

    def matches(self, turn: Turn) -> bool:
        return True

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        self.calls.append(turn.text or (turn.payload or ""))
        turn.state.context["seen"] = turn.state.context.get("seen", 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if "炸" in turn.text:
            raise RuntimeError("handler bug")
        if turn.text == "问我":
            turn.state.awaiting = "address"
            return [OutboundMessage.with_buttons(
                "选一个", (intent_button("甲", "affirm"), intent_button("乙", "deny"))
            )]
        label = turn.intent.name if turn.intent else f"payload={turn.payload}"
        return [OutboundMessage.of_text(f"{label}:{turn.text}")]


@dataclass
class RecordingSender:
    channel: Channel = Channel.WECHAT
    sent: list[OutboundMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return "custom"


@dataclass
class Rig:
    storage: Storage
    clock: FakeClock
    nlu: CountingUnderstanding
    handler: EchoHandler
    sender: RecordingSender
    ingest: Ingest
    worker: DeliveryWorker


def make_rig(delay: float = 0.0, *, owner: str = "replica-a", storage: Storage | None = None,
             clock: FakeClock | None = None) -> Rig:
    clock = clock or FakeClock()
    storage = storage or memory_storage(clock=clock)
    nlu = CountingUnderstanding()
    handler = EchoHandler(delay=delay)
    sender = RecordingSender()
    worker = DeliveryWorker(
        queue=storage.outbox, senders={Channel.WECHAT: sender}, clock=clock, owner=owner,
        backoff=Backoff(first=timedelta(seconds=2), attempts=3),
    )
    dispatcher = Dispatcher(store=storage.conversations, understanding=nlu,
                            handlers=[handler], clock=clock)
    ingest = Ingest(journal=storage.journal, store=storage.conversations, outbox=storage.outbox,
                    dispatcher=dispatcher, owner=owner, lease_seconds=30)
    return Rig(storage, clock, nlu, handler, sender, ingest, worker)


_ids = iter(range(1, 1_000_000))


def text(body: str, message_id: str | None = None) -> InboundMessage:
    return InboundMessage(
        key=KEY, message_id=message_id or str(next(_ids)), kind=InboundKind.TEXT,
        received_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC), text=body,
    )


async def test_answer_ready_in_time_goes_back_passively() -> None:
    rig = make_rig()
    submission = await rig.ingest.submit(text("你好"), passive_budget=1.0)
    assert submission.reply == OutboundMessage.of_text("greet:你好")
    await rig.ingest.drain()
    assert await rig.worker.run_once() == 0  # nothing was queued
    state = await rig.storage.conversations.load(KEY)
    assert state.context["seen"] == 1 and state.version == 1


async def test_same_message_three_times_concurrently_is_processed_once() -> None:
    rig = make_rig(delay=0.05)
    message = text("路灯坏了", message_id="42")
    results = await asyncio.gather(
        *(rig.ingest.submit(message, passive_budget=1.0) for _ in range(3))
    )
    await rig.ingest.drain()
    assert rig.handler.calls == ["路灯坏了"]
    assert len(rig.nlu.texts) == 1
    assert sum(not r.duplicate for r in results) == 1
    # A retry after the turn finished gets the same passive reply, not a second turn.
    again = await rig.ingest.submit(message, passive_budget=1.0)
    assert again.duplicate and again.reply == OutboundMessage.of_text("complain:路灯坏了")
    assert rig.handler.calls == ["路灯坏了"]


async def test_slow_answer_is_pushed_once_through_the_outbox() -> None:
    rig = make_rig(delay=0.3)
    submission = await rig.ingest.submit(text("慢慢说"), passive_budget=0.05)
    assert submission.reply is None
    await rig.ingest.drain()
    assert await rig.worker.run_once() == 1
    assert rig.sender.sent == [OutboundMessage.of_text("complain:慢慢说")]
    assert await rig.worker.run_once() == 0


async def test_handler_failure_apologises_and_keeps_the_previous_state() -> None:
    rig = make_rig()
    await rig.ingest.submit(text("你好"), passive_budget=1.0)
    submission = await rig.ingest.submit(text("炸了"), passive_budget=1.0)
    assert submission.reply is not None and "出了点问题" in submission.reply.text
    state = await rig.storage.conversations.load(KEY)
    assert state.context["seen"] == 1


async def test_numbered_answers_and_pending_questions_skip_nlu() -> None:
    rig = make_rig()
    first = await rig.ingest.submit(text("问我"), passive_budget=1.0)
    assert first.reply is not None and first.reply.buttons
    second = await rig.ingest.submit(text("２"), passive_budget=1.0)
    # "２" (full-width) picked the second button, whose payload names an intent.
    assert second.reply == OutboundMessage.of_text("deny:２")
    # The question asked is still pending: the answer goes to the flow, not to NLU.
    third = await rig.ingest.submit(text("和平路12号"), passive_budget=1.0)
    assert third.reply == OutboundMessage.of_text("payload=None:和平路12号")
    assert rig.nlu.texts == ["问我"]


async def test_a_replica_that_crashed_mid_turn_is_recovered_by_another() -> None:
    clock = FakeClock()
    storage = memory_storage(clock=clock)
    crashed = make_rig(owner="replica-a", storage=storage, clock=clock)
    message = text("没人回我")
    await storage.journal.accept(message, owner="replica-a", lease_seconds=30)
    # replica-a dies here, before processing. Its lease protects the message for a while...
    survivor = make_rig(owner="replica-b", storage=storage, clock=clock)
    assert await survivor.ingest.recover() == 0
    clock.advance(31)
    assert await survivor.ingest.recover() == 1
    assert await survivor.worker.run_once() == 1
    assert survivor.sender.sent == [OutboundMessage.of_text("complain:没人回我")]
    assert crashed.handler.calls == []


async def test_failed_deliveries_back_off_then_give_up() -> None:
    rig = make_rig(delay=0.0)
    rig.sender.failures = [DeliveryError("timeout"), DeliveryError("timeout")]
    await rig.ingest.submit(text("推送"), passive_budget=None)
    await rig.ingest.drain()
    assert await rig.worker.run_once() == 1  # attempt 1 fails
    assert await rig.worker.run_once() == 0  # not due yet
    rig.clock.advance(2)
    assert await rig.worker.run_once() == 1  # attempt 2 fails, waits 4 s
    rig.clock.advance(4)
    assert await rig.worker.run_once() == 1
    assert rig.sender.sent == [OutboundMessage.of_text("complain:推送")]


async def test_permanent_failure_is_not_retried() -> None:
    rig = make_rig()
    rig.sender.failures = [PermanentDeliveryError("user unsubscribed")]
    await rig.ingest.submit(text("推送"), passive_budget=None)
    await rig.ingest.drain()
    assert await rig.worker.run_once() == 1
    rig.clock.advance(3600)
    assert await rig.worker.run_once() == 0
    assert rig.sender.sent == []


@pytest.mark.parametrize("attempt,expected", [(1, 2), (2, 4), (3, None)])
def test_backoff_schedule(attempt: int, expected: int | None) -> None:
    delay = Backoff(first=timedelta(seconds=2), attempts=3).delay(attempt)
    assert (delay.total_seconds() if delay else None) == expected
