"""The outbox honours a channel's "retry no sooner than"; the ingest runs a
channel's preparer inside the turn and survives its failure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from bot.errors import DeliveryError
from bot.ingest import Ingest
from bot.ports import InboundPreparer
from bot.types import Channel, InboundMessage, OutboundMessage
from tests.core.test_ingest_and_dispatch import KEY, Rig, make_rig, text


async def test_a_retry_after_hint_longer_than_the_backoff_is_waited_out() -> None:
    rig = make_rig()
    rig.sender.failures = [DeliveryError("flood control", retry_after=30)]
    await rig.ingest.submit(text("推送"), passive_budget=None)
    await rig.ingest.drain()
    assert await rig.worker.run_once() == 1  # attempt 1: 429, retry after 30 s
    rig.clock.advance(2)  # the backoff alone would retry now
    assert await rig.worker.run_once() == 0
    rig.clock.advance(27.9)
    assert await rig.worker.run_once() == 0
    rig.clock.advance(0.1)
    assert await rig.worker.run_once() == 1
    assert rig.sender.sent == [OutboundMessage.of_text("complain:推送")]


async def test_a_hint_shorter_than_the_backoff_changes_nothing() -> None:
    rig = make_rig()
    rig.sender.failures = [DeliveryError("flood control", retry_after=0.5)]
    await rig.ingest.submit(text("推送"), passive_budget=None)
    await rig.ingest.drain()
    assert await rig.worker.run_once() == 1
    rig.clock.advance(1)
    assert await rig.worker.run_once() == 0  # the backoff's 2 s still hold
    rig.clock.advance(1)
    assert await rig.worker.run_once() == 1
    assert len(rig.sender.sent) == 1


async def test_a_hint_does_not_keep_a_delivery_past_its_last_attempt() -> None:
    rig = make_rig()  # three attempts
    rig.sender.failures = [DeliveryError("flood", retry_after=5) for _ in range(3)]
    await rig.ingest.submit(text("推送"), passive_budget=None)
    await rig.ingest.drain()
    for _ in range(3):
        assert await rig.worker.run_once() == 1
        rig.clock.advance(10)
    rig.clock.advance(86_400)
    assert await rig.worker.run_once() == 0  # given up, hint or not
    assert rig.sender.sent == []


@dataclass
class Tagging:
    """A preparer that marks what it saw, or fails on '坏'."""

    seen: list[str] = field(default_factory=list)

    async def prepare(self, message: InboundMessage) -> InboundMessage:
        self.seen.append(message.text or "")
        await asyncio.sleep(0)
        if "坏" in (message.text or ""):
            raise RuntimeError("preparer bug")
        return replace(message, text=f"{message.text}+")


def _ingest_with(preparer: InboundPreparer) -> tuple[Ingest, Rig]:
    rig = make_rig()
    ingest = Ingest(
        journal=rig.storage.journal, store=rig.storage.conversations, outbox=rig.storage.outbox,
        dispatcher=rig.ingest._dispatcher, owner="replica-a", lease_seconds=30,
        preparers={Channel.WECHAT: preparer},
    )
    return ingest, rig


async def test_the_turn_sees_the_prepared_message_in_order() -> None:
    preparer = Tagging()
    ingest, rig = _ingest_with(preparer)
    first = await ingest.submit(text("一"), passive_budget=None)
    second = await ingest.submit(text("二"), passive_budget=None)
    # The webhook's answer does not wait for the preparer.
    assert first.reply is None and second.reply is None
    await ingest.drain()
    assert preparer.seen == ["一", "二"]
    assert rig.handler.calls == ["一+", "二+"]


async def test_a_failing_preparer_does_not_lose_the_message() -> None:
    ingest, rig = _ingest_with(Tagging())
    await ingest.submit(text("坏了"), passive_budget=None)
    await ingest.drain()
    assert rig.handler.calls == ["坏了"]
    state = await rig.storage.conversations.load(KEY)
    assert state.context["seen"] == 1
