"""The storage contract: every implementation (memory, SQLite, PostgreSQL) behaves the same.

Each test runs once per backend (see ``conftest.py``); PostgreSQL cases are
skipped unless ``MINHU_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import ConcurrentUpdate, StorageError
from bot.ports import (
    ConversationStore,
    DeliveryQueue,
    HealthCheck,
    InboundJournal,
    ReplyWindows,
    TokenStore,
    TurnRecord,
)
from bot.state import ConversationState
from bot.types import (
    Button,
    Channel,
    ConversationKey,
    Entity,
    EventKind,
    InboundKind,
    InboundMessage,
    Intent,
    Location,
    OutboundKind,
    OutboundMessage,
)
from integrations.storage import (
    MAX_RECOVERY_ATTEMPTS,
    Storage,
    build_storage,
    upgrade,
    upgrade_sync,
)
from integrations.storage.codec import (
    inbound_from_json,
    inbound_to_json,
    outbound_from_json,
    outbound_to_json,
)

from .conftest import Backend, FakeClock

KEY = ConversationKey(Channel.WECHAT, "gh_minhu", "o-resident-1")
OTHER = ConversationKey(Channel.WECHAT, "gh_minhu", "o-resident-2")
THIRD = ConversationKey(Channel.TELEGRAM, "minhu_bot", "42")

CST = timezone(timedelta(hours=8))


def text_message(
    clock: FakeClock, message_id: str = "m1", key: ConversationKey = KEY, text: str = "路灯坏了"
) -> InboundMessage:
    return InboundMessage(
        key=key,
        message_id=message_id,
        kind=InboundKind.TEXT,
        received_at=clock.now,
        text=text,
        raw_type="text",
    )


def event_message(
    clock: FakeClock, message_id: str = "e1", key: ConversationKey = KEY
) -> InboundMessage:
    return InboundMessage(
        key=key,
        message_id=message_id,
        kind=InboundKind.EVENT,
        received_at=clock.now,
        event=EventKind.CLICK,
        event_key="MENU_REPORT",
        raw_type="event",
    )


def rich_message(clock: FakeClock) -> InboundMessage:
    return InboundMessage(
        key=KEY,
        message_id="rich-1",
        kind=InboundKind.LOCATION,
        received_at=clock.now.astimezone(CST),
        text="我在这里：人民路 12 号",
        payload="/report",
        media_id="media-9",
        media_url="https://example.invalid/m.jpg",
        media_format="amr",
        location=Location(
            latitude=31.2304, longitude=121.4737, label="上海市黄浦区", precision=15.0
        ),
        event=EventKind.LOCATION,
        event_key="k",
        raw_type="location",
    )


BUTTONS_REPLY = OutboundMessage.with_buttons(
    "请问是哪一类问题？",
    (Button("路灯", "/category:路灯"), Button("噪音扰民", "/category:噪音")),
)


def turn(
    message: InboundMessage,
    state: ConversationState,
    *,
    passive: OutboundMessage | None = None,
    pushes: tuple[OutboundMessage, ...] = (),
    intent: Intent | None = None,
) -> TurnRecord:
    return TurnRecord(
        message=message,
        state=state,
        intent=intent,
        handler="report",
        passive_reply=passive,
        pushes=pushes,
    )


async def accept(storage: Storage, message: InboundMessage, owner: str = "replica-a") -> bool:
    return (await storage.journal.accept(message, owner=owner, lease_seconds=30)).new


# -- the bundle satisfies the ports -------------------------------------------------------


def test_ports_are_implemented(storage: Storage) -> None:
    journal: InboundJournal = storage.journal
    conversations: ConversationStore = storage.conversations
    outbox: DeliveryQueue = storage.outbox
    windows: ReplyWindows = storage.windows
    tokens: TokenStore = storage.tokens
    health: HealthCheck = storage.health
    assert health.name == "database"
    assert all((journal, conversations, outbox, windows, tokens))


async def test_health_check_passes(storage: Storage) -> None:
    await storage.health.check()


# -- codec --------------------------------------------------------------------------------


def test_codec_round_trips_every_field(clock: FakeClock) -> None:
    message = rich_message(clock)
    back = inbound_from_json(inbound_to_json(message))
    assert back == message
    assert back.received_at.tzinfo is not None
    assert back.received_at.utcoffset() == timedelta(0)
    for out in (
        BUTTONS_REPLY,
        OutboundMessage.of_text("已受理，工单号 A123"),
        OutboundMessage(OutboundKind.IMAGE, text="图", image_url="u", image_media_id="mid"),
    ):
        assert outbound_from_json(outbound_to_json(out)) == out


# -- inbound journal ----------------------------------------------------------------------


async def test_accept_is_new_once_then_repeat(storage: Storage, clock: FakeClock) -> None:
    message = text_message(clock)
    first = await storage.journal.accept(message, owner="a", lease_seconds=30)
    second = await storage.journal.accept(message, owner="b", lease_seconds=30)
    assert first.new is True and first.reply is None
    assert second.new is False and second.reply is None
    # Same message id on another account or channel is a different message.
    assert await accept(storage, replace(message, key=THIRD))
    assert await accept(
        storage, replace(message, key=ConversationKey(Channel.WECHAT, "gh_other", KEY.user))
    )


async def test_accepting_a_message_reads_its_conversation_as_stored(
    storage: Storage, clock: FakeClock
) -> None:
    fresh = await storage.journal.accept(text_message(clock, "s1"), owner="a", lease_seconds=30)
    assert fresh.state is not None
    assert (fresh.state.key, fresh.state.version, fresh.state.slots) == (KEY, 0, {})

    state = await storage.conversations.load(KEY)
    state.start_flow("complaint")
    state.slots["where"] = "和平路12号"
    await storage.conversations.complete_turn(
        TurnRecord(text_message(clock, "s1"), state, None, "h", None, [])
    )
    later = await storage.journal.accept(text_message(clock, "s2"), owner="a", lease_seconds=30)
    assert later.state is not None
    assert later.state.version == 1
    assert (later.state.flow, later.state.slots) == ("complaint", {"where": "和平路12号"})
    repeat = await storage.journal.accept(text_message(clock, "s2"), owner="b", lease_seconds=30)
    assert repeat.new is False and repeat.state is None


async def test_concurrent_accepts_yield_exactly_one_new(storage: Storage, clock: FakeClock) -> None:
    message = text_message(clock, "burst")
    results = await asyncio.gather(
        *(storage.journal.accept(message, owner=f"o{i}", lease_seconds=30) for i in range(10))
    )
    assert sum(r.new for r in results) == 1


async def test_concurrent_accepts_across_replicas_yield_exactly_one_new(
    backend: Backend, clock: FakeClock
) -> None:
    replicas = [backend.replica(), backend.replica(), backend.replica(group_commit=False)]
    for round_ in range(5):
        message = text_message(clock, f"retry-{round_}")
        results = await asyncio.gather(
            *(
                replicas[i % len(replicas)].journal.accept(message, owner=f"r{i}", lease_seconds=30)
                for i in range(9)
            )
        )
        assert sum(r.new for r in results) == 1, round_


async def test_many_distinct_concurrent_accepts_are_all_new(
    storage: Storage, clock: FakeClock
) -> None:
    messages = [text_message(clock, f"m{i}", text=f"第{i}条") for i in range(50)]
    results = await asyncio.gather(*(accept(storage, m) for m in messages))
    assert all(results)


async def test_repeat_of_finished_turn_returns_stored_passive_reply(
    storage: Storage, clock: FakeClock
) -> None:
    message = text_message(clock)
    assert await accept(storage, message)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(turn(message, state, passive=BUTTONS_REPLY))
    again = await storage.journal.accept(message, owner="b", lease_seconds=30)
    assert again.new is False
    assert again.reply == BUTTONS_REPLY


async def test_repeat_of_finished_turn_without_passive_reply(
    storage: Storage, clock: FakeClock
) -> None:
    message = text_message(clock)
    assert await accept(storage, message)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(
        turn(message, state, pushes=(OutboundMessage.of_text("稍后回复"),))
    )
    again = await storage.journal.accept(message, owner="b", lease_seconds=30)
    assert again == type(again)(new=False, reply=None)


async def test_claim_unfinished_only_after_lease_expiry(storage: Storage, clock: FakeClock) -> None:
    crashed = rich_message(clock)
    done = text_message(clock, "done")
    await storage.journal.accept(crashed, owner="dead-replica", lease_seconds=30)
    assert await accept(storage, done)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(turn(done, state))

    # Still leased: nothing to recover.
    assert await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10) == []
    clock.advance(seconds=31)
    claimed = await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10)
    assert claimed == [crashed]  # every field round-trips, finished one excluded
    # Re-leased to b: another replica cannot take it now.
    assert await storage.journal.claim_unfinished(owner="c", lease_seconds=30, limit=10) == []
    # A repeat delivery meanwhile is still a repeat.
    assert not await accept(storage, crashed)


async def test_claim_unfinished_respects_limit_and_order(
    storage: Storage, clock: FakeClock
) -> None:
    messages = [text_message(clock, f"m{i}") for i in range(5)]
    for message in messages:
        assert await accept(storage, message)
    clock.advance(minutes=5)
    first = await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=2)
    rest = await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10)
    assert first == messages[:2]
    assert rest == messages[2:]


async def test_claim_unfinished_gives_up_after_max_attempts(
    storage: Storage, clock: FakeClock
) -> None:
    message = text_message(clock)
    assert await accept(storage, message)
    claims = 0
    for _ in range(MAX_RECOVERY_ATTEMPTS + 3):
        clock.advance(seconds=31)
        got = await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10)
        claims += len(got)
    # The first run plus four recoveries make five attempts; then it is failed.
    assert claims == MAX_RECOVERY_ATTEMPTS - 1
    clock.advance(hours=1)
    assert await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10) == []
    assert not await accept(storage, message)


async def test_concurrent_claims_never_share_a_message(backend: Backend, clock: FakeClock) -> None:
    a, b = backend.replica(), backend.replica()
    messages = [text_message(clock, f"m{i}") for i in range(12)]
    for message in messages:
        assert await accept(a, message)
    clock.advance(seconds=60)
    results = await asyncio.gather(
        *(
            replica.journal.claim_unfinished(owner=f"w{i}", lease_seconds=30, limit=4)
            for i, replica in enumerate([a, b, a, b])
        )
    )
    ids = [m.message_id for batch in results for m in batch]
    assert len(ids) == len(set(ids)) == 12


# -- conversations ------------------------------------------------------------------------


async def test_load_unknown_conversation_is_fresh(storage: Storage) -> None:
    state = await storage.conversations.load(KEY)
    assert state == ConversationState(key=KEY)
    assert state.version == 0


async def test_complete_turn_saves_state_and_bumps_version(
    storage: Storage, clock: FakeClock
) -> None:
    message = text_message(clock)
    assert await accept(storage, message)
    state = await storage.conversations.load(KEY)
    state.start_flow("report", awaiting="address")
    state.slots["description"] = "小区门口路灯不亮，晚上很危险"
    state.context["photos"] = ["media-1", "media-2"]
    state.context["nested"] = {"层": [1, 2.5, True, None]}
    state.unclear_turns = 2
    intent = Intent(
        name="report",
        confidence=0.93,
        category="市政设施",
        category_confidence=0.8,
        entities=(Entity("place", "人民路"),),
    )
    await storage.conversations.complete_turn(turn(message, state, intent=intent))
    assert state.version == 1

    loaded = await storage.conversations.load(KEY)
    assert loaded.version == 1
    assert loaded.data_json() == state.data_json()
    assert loaded.last_active_at == message.received_at
    assert loaded.last_active_at is not None and loaded.last_active_at.tzinfo is not None

    clock.advance(minutes=1)
    second = text_message(clock, "m2", text="人民路12号")
    assert await accept(storage, second)
    loaded.awaiting = "confirm"
    loaded.last_active_at = clock.now  # as the dispatcher sets it
    await storage.conversations.complete_turn(turn(second, loaded))
    assert loaded.version == 2
    again = await storage.conversations.load(KEY)
    assert again.version == 2
    assert again.awaiting == "confirm"
    assert again.last_active_at == second.received_at


async def test_complete_turn_marks_message_finished(storage: Storage, clock: FakeClock) -> None:
    message = text_message(clock)
    assert await accept(storage, message)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(turn(message, state))
    clock.advance(hours=1)
    assert await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10) == []


async def test_stale_version_raises_concurrent_update_and_changes_nothing(
    storage: Storage, clock: FakeClock
) -> None:
    first = text_message(clock, "m1")
    assert await accept(storage, first)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(turn(first, state))

    clock.advance(minutes=1)
    mine = await storage.conversations.load(KEY)
    theirs = await storage.conversations.load(KEY)
    theirs.flow = "theirs"
    m2 = text_message(clock, "m2")
    assert await accept(storage, m2)
    await storage.conversations.complete_turn(turn(m2, theirs))

    clock.advance(minutes=1)
    mine.flow = "mine"
    m3 = text_message(clock, "m3")
    assert await accept(storage, m3)
    window_before = await storage.windows.current(KEY)
    with pytest.raises(ConcurrentUpdate):
        await storage.conversations.complete_turn(
            turn(m3, mine, passive=BUTTONS_REPLY, pushes=(OutboundMessage.of_text("x"),))
        )
    assert mine.version == 1
    stored = await storage.conversations.load(KEY)
    assert stored.flow == "theirs" and stored.version == 2
    # Nothing of the failed turn was kept: no pushes, message unfinished, window untouched.
    assert (
        await storage.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=10) == []
    )
    assert (await storage.journal.accept(m3, owner="x", lease_seconds=30)).reply is None
    assert await storage.windows.current(KEY) == window_before
    clock.advance(seconds=31)
    assert await storage.journal.claim_unfinished(owner="b", lease_seconds=30, limit=10) == [m3]


async def test_concurrent_first_turns_one_wins(backend: Backend, clock: FakeClock) -> None:
    a, b = backend.replica(), backend.replica()
    m1, m2 = text_message(clock, "m1"), text_message(clock, "m2")
    assert await accept(a, m1) and await accept(b, m2)
    s1, s2 = await a.conversations.load(KEY), await b.conversations.load(KEY)
    s1.flow, s2.flow = "one", "two"
    results = await asyncio.gather(
        a.conversations.complete_turn(turn(m1, s1)),
        b.conversations.complete_turn(turn(m2, s2)),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ConcurrentUpdate", "NoneType"]
    stored = await a.conversations.load(KEY)
    assert stored.version == 1
    assert stored.flow == ("one" if results[0] is None else "two")


async def test_concurrent_updates_of_one_version_one_wins(
    backend: Backend, clock: FakeClock
) -> None:
    a, b = backend.replica(), backend.replica()
    m0 = text_message(clock, "m0")
    assert await accept(a, m0)
    await a.conversations.complete_turn(turn(m0, await a.conversations.load(KEY)))
    states = [await a.conversations.load(KEY) for _ in range(6)]
    messages = [text_message(clock, f"c{i}") for i in range(6)]
    for message in messages:
        assert await accept(a, message)
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).conversations.complete_turn(
                turn(m, s, pushes=(OutboundMessage.of_text(f"push {i}"),))
            )
            for i, (m, s) in enumerate(zip(messages, states, strict=True))
        ),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, ConcurrentUpdate) for r in results if r is not None)
    assert (await a.conversations.load(KEY)).version == 2
    due = await a.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=10)
    assert len(due) == 1


async def test_complete_turn_queues_pushes_in_order(storage: Storage, clock: FakeClock) -> None:
    message = text_message(clock)
    assert await accept(storage, message)
    pushes = (*(OutboundMessage.of_text(f"第{i}条消息") for i in range(3)), BUTTONS_REPLY)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(turn(message, state, pushes=pushes))
    got: list[OutboundMessage] = []
    for _ in range(len(pushes) + 1):
        due = await storage.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=10)
        assert len(due) <= 1
        for delivery in due:
            assert delivery.key == KEY
            assert delivery.attempts == 0
            got.append(delivery.message)
            await storage.outbox.mark_sent(delivery.delivery_id, via="custom")
    assert tuple(got) == pushes


async def test_complete_turn_opens_reply_window(storage: Storage, clock: FakeClock) -> None:
    # A user message: 48 h / 5.
    m1 = text_message(clock, "m1")
    assert await accept(storage, m1)
    state = await storage.conversations.load(KEY)
    await storage.conversations.complete_turn(turn(m1, state))
    window = await storage.windows.current(KEY)
    assert window.opened_at == m1.received_at
    assert window.expires_at == m1.received_at + timedelta(hours=48)
    assert (window.quota, window.used) == (5, 0)

    # A click while the longer message window is open keeps the message window.
    assert await storage.windows.reserve(KEY, clock.now)
    clock.advance(minutes=10)
    e1 = event_message(clock, "e1")
    assert await accept(storage, e1)
    await storage.conversations.complete_turn(turn(e1, state))
    window = await storage.windows.current(KEY)
    assert window.opened_at == m1.received_at
    assert (window.quota, window.used) == (5, 1)

    # A new user message resets the window.
    clock.advance(minutes=10)
    m2 = text_message(clock, "m2")
    assert await accept(storage, m2)
    await storage.conversations.complete_turn(turn(m2, state))
    window = await storage.windows.current(KEY)
    assert window.opened_at == m2.received_at
    assert (window.quota, window.used) == (5, 0)

    # An event alone opens 1 min / 3.
    e2 = event_message(clock, "e2", key=OTHER)
    assert await accept(storage, e2)
    other = await storage.conversations.load(OTHER)
    await storage.conversations.complete_turn(turn(e2, other))
    window = await storage.windows.current(OTHER)
    assert window.expires_at == e2.received_at + timedelta(minutes=1)
    assert (window.quota, window.used) == (3, 0)


async def test_event_after_exhausted_message_window_opens_event_window(
    storage: Storage, clock: FakeClock
) -> None:
    m1 = text_message(clock, "m1")
    await storage.windows.open(m1)
    for _ in range(5):
        assert await storage.windows.reserve(KEY, clock.now)
    clock.advance(minutes=1)
    e1 = event_message(clock)
    await storage.windows.open(e1)
    window = await storage.windows.current(KEY)
    assert window.opened_at == e1.received_at
    assert (window.quota, window.used) == (3, 0)


@pytest.mark.parametrize(
    "event", [EventKind.UNSUBSCRIBE, EventKind.LOCATION, EventKind.UNKNOWN]
)
async def test_events_that_are_not_the_residents_act_open_no_window(
    storage: Storage, clock: FakeClock, event: EventKind
) -> None:
    # Unsubscribing, an automatic location report or a notice about our own
    # push opens nothing: WeChat would refuse a push after them.
    message = replace(event_message(clock, f"x-{event}"), event=event, event_key=None)
    assert await accept(storage, message)
    await storage.conversations.complete_turn(
        turn(message, await storage.conversations.load(KEY))
    )
    await storage.windows.open(message)
    assert not await storage.windows.reserve(KEY, clock.now)


# -- delivery queue -----------------------------------------------------------------------


async def test_claim_due_oldest_first_one_per_conversation(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.outbox.enqueue(
        KEY, [OutboundMessage.of_text("k1"), OutboundMessage.of_text("k2")]
    )
    clock.advance(seconds=1)
    await storage.outbox.enqueue(OTHER, [OutboundMessage.of_text("o1")])
    clock.advance(seconds=1)
    await storage.outbox.enqueue(THIRD, [OutboundMessage.of_text("t1")])
    await storage.outbox.enqueue(KEY, [])

    due = await storage.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=2)
    assert [d.message.text for d in due] == ["k1", "o1"]
    assert due[0].created_at.tzinfo is not None
    assert due[0].created_at == clock.now - timedelta(seconds=2)
    # k2 waits for k1; o1 is leased; t1 is next.
    more = await storage.outbox.claim_due(owner="w2", now=clock.now, lease_seconds=30, limit=10)
    assert [d.message.text for d in more] == ["t1"]
    await storage.outbox.mark_sent(due[0].delivery_id, via="custom")
    more = await storage.outbox.claim_due(owner="w2", now=clock.now, lease_seconds=30, limit=10)
    assert [d.message.text for d in more] == ["k2"]


async def test_claim_due_reclaims_after_lease_expiry(storage: Storage, clock: FakeClock) -> None:
    await storage.outbox.enqueue(KEY, [OutboundMessage.of_text("k1")])
    first = await storage.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=10)
    assert len(first) == 1
    assert (
        await storage.outbox.claim_due(
            owner="w2", now=clock.now + timedelta(seconds=29), lease_seconds=30, limit=10
        )
        == []
    )
    again = await storage.outbox.claim_due(
        owner="w2", now=clock.now + timedelta(seconds=30), lease_seconds=30, limit=10
    )
    assert [d.delivery_id for d in again] == [first[0].delivery_id]


async def test_mark_failed_retries_later_and_keeps_order(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.outbox.enqueue(
        KEY, [OutboundMessage.of_text("k1"), OutboundMessage.of_text("k2")]
    )
    (k1,) = await storage.outbox.claim_due(owner="w", now=clock.now, lease_seconds=30, limit=10)
    retry_at = clock.now + timedelta(minutes=5)
    await storage.outbox.mark_failed(k1.delivery_id, error="errcode 45015", retry_at=retry_at)
    # Not due yet, and k2 must not overtake it.
    assert (
        await storage.outbox.claim_due(
            owner="w", now=clock.now + timedelta(minutes=4), lease_seconds=30, limit=10
        )
        == []
    )
    due = await storage.outbox.claim_due(owner="w", now=retry_at, lease_seconds=30, limit=10)
    assert [(d.message.text, d.attempts) for d in due] == [("k1", 1)]
    await storage.outbox.mark_failed(due[0].delivery_id, error="blocked", retry_at=None)
    due = await storage.outbox.claim_due(owner="w", now=retry_at, lease_seconds=30, limit=10)
    assert [d.message.text for d in due] == ["k2"]
    await storage.outbox.mark_sent(due[0].delivery_id, via="template")
    assert (
        await storage.outbox.claim_due(
            owner="w", now=retry_at + timedelta(days=1), lease_seconds=30, limit=10
        )
        == []
    )


async def test_concurrent_claims_never_share_a_delivery(backend: Backend, clock: FakeClock) -> None:
    a, b = backend.replica(), backend.replica()
    keys = [ConversationKey(Channel.WECHAT, "gh", f"user-{i}") for i in range(8)]
    for key in keys:
        await a.outbox.enqueue(key, [OutboundMessage.of_text("1"), OutboundMessage.of_text("2")])
    results = await asyncio.gather(
        *(
            replica.outbox.claim_due(owner=f"w{i}", now=clock.now, lease_seconds=30, limit=3)
            for i, replica in enumerate([a, b, a, b, a, b])
        )
    )
    claimed = [d for batch in results for d in batch]
    assert len({d.delivery_id for d in claimed}) == len(claimed) == len(keys)
    assert {d.key for d in claimed} == set(keys)
    assert all(d.message.text == "1" for d in claimed)


# -- reply windows ------------------------------------------------------------------------


async def test_reserve_without_window_is_refused(storage: Storage, clock: FakeClock) -> None:
    assert not await storage.windows.reserve(KEY, clock.now)
    window = await storage.windows.current(KEY)
    assert window.expires_at is None and window.quota == 0
    await storage.windows.release(KEY)  # harmless


async def test_reserve_takes_from_quota_until_empty_or_expired(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.windows.open(text_message(clock))
    assert [await storage.windows.reserve(KEY, clock.now) for _ in range(6)] == [True] * 5 + [False]
    await storage.windows.release(KEY)
    assert (await storage.windows.current(KEY)).used == 4
    assert await storage.windows.reserve(KEY, clock.now)
    for _ in range(10):
        await storage.windows.release(KEY)
    assert (await storage.windows.current(KEY)).used == 0
    assert not await storage.windows.reserve(KEY, clock.now + timedelta(hours=48))
    assert await storage.windows.reserve(KEY, clock.now + timedelta(hours=47, minutes=59))


async def test_concurrent_reserves_never_exceed_quota(backend: Backend, clock: FakeClock) -> None:
    a, b = backend.replica(), backend.replica()
    await a.windows.open(text_message(clock))
    results = await asyncio.gather(
        *((a if i % 2 else b).windows.reserve(KEY, clock.now) for i in range(12))
    )
    assert sum(results) == 5
    assert (await a.windows.current(KEY)).used == 5


# -- tokens -------------------------------------------------------------------------------


async def test_token_compare_and_set(storage: Storage, clock: FakeClock) -> None:
    expires = clock.now.astimezone(CST) + timedelta(hours=2)
    assert await storage.tokens.get("wechat:gh_minhu") is None
    assert not await storage.tokens.replace("wechat:gh_minhu", "t1", expires, previous="t0")
    assert await storage.tokens.replace("wechat:gh_minhu", "t1", expires, previous=None)
    assert not await storage.tokens.replace("wechat:gh_minhu", "t1b", expires, previous=None)
    got = await storage.tokens.get("wechat:gh_minhu")
    assert got == ("t1", expires)
    assert got is not None and got[1].utcoffset() == timedelta(0)
    later = expires + timedelta(hours=2)
    assert await storage.tokens.replace("wechat:gh_minhu", "t2", later, previous="t1")
    assert not await storage.tokens.replace("wechat:gh_minhu", "t3", later, previous="t1")
    assert await storage.tokens.get("wechat:gh_minhu") == ("t2", later)


async def test_concurrent_token_replaces_one_wins(backend: Backend, clock: FakeClock) -> None:
    a, b = backend.replica(), backend.replica()
    expires = clock.now + timedelta(hours=2)
    first = await asyncio.gather(
        *(
            (a if i % 2 else b).tokens.replace("tg", f"first-{i}", expires, previous=None)
            for i in range(6)
        )
    )
    assert sum(first) == 1
    current = await a.tokens.get("tg")
    assert current is not None
    second = await asyncio.gather(
        *(
            (a if i % 2 else b).tokens.replace("tg", f"second-{i}", expires, previous=current[0])
            for i in range(6)
        )
    )
    assert sum(second) == 1


# -- SQL only: errors, migrations, engine -------------------------------------------------


async def test_driver_errors_become_storage_errors(
    backend: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    if not backend.is_sql:
        pytest.skip("SQL backends only")
    # A database that was never migrated: every table is missing.
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}" if backend.name == "sqlite" else backend.url
    )
    assert url is not None
    storage = build_storage(url, clock=clock, search_path="minhu_no_such_schema")
    try:
        with pytest.raises(StorageError) as caught:
            await storage.journal.accept(text_message(clock), owner="a", lease_seconds=30)
        assert not isinstance(caught.value, ConcurrentUpdate)
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
        with pytest.raises(StorageError):
            await storage.conversations.load(KEY)
    finally:
        await storage.close()


async def test_health_check_fails_when_unreachable(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("needs a network database")
    storage = build_storage("postgresql+asyncpg://minhu@127.0.0.1:9/nowhere")
    try:
        with pytest.raises(StorageError):
            await storage.health.check()
    finally:
        await storage.close()


async def test_migrations_match_models(backend: Backend) -> None:
    if not backend.is_sql:
        pytest.skip("SQL backends only")
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from integrations.storage.all_models import Base

    storage = backend.replica()
    assert storage.engine is not None

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with storage.engine.connect() as conn:
        differences = await conn.run_sync(diff)
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert differences == []
    assert version == "0006_handoff"  # the head of the chain
    # Upgrading again is a no-op.
    await storage.migrate()


async def test_sqlite_pragmas_and_utc_storage(backend: Backend, clock: FakeClock) -> None:
    if backend.name != "sqlite":
        pytest.skip("SQLite only")
    storage = backend.replica()
    assert storage.engine is not None
    message = replace(text_message(clock), received_at=clock.now.astimezone(CST))
    assert await accept(storage, message)
    async with storage.engine.connect() as conn:
        pragmas = [
            (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        ]
        stored = (await conn.exec_driver_sql("SELECT received_at FROM inbound_messages")).scalar()
        raw = (await conn.exec_driver_sql("SELECT message FROM inbound_messages")).scalar()
    assert pragmas[0] == "wal" and pragmas[1] == 1 and pragmas[2] > 0 and pragmas[3] == 1
    assert stored == clock.now.strftime("%Y-%m-%d %H:%M:%S.%f")  # naive UTC text
    assert "路灯坏了" in raw  # readable JSON, not \\u escapes


def test_upgrade_sync_from_any_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    upgrade_sync("sqlite+aiosqlite:///nested/dir/minhu.db")
    assert (elsewhere / "nested" / "dir" / "minhu.db").exists()
    assert not (elsewhere / "alembic.ini").exists()


async def test_upgrade_creates_sqlite_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "minhu.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    assert path.exists()


# -- datetimes ----------------------------------------------------------------------------


async def test_datetimes_round_trip_as_aware_utc(storage: Storage, clock: FakeClock) -> None:
    local = clock.now.astimezone(CST)
    message = replace(text_message(clock), received_at=local)
    assert await accept(storage, message)
    state = await storage.conversations.load(KEY)
    state.last_active_at = local
    await storage.conversations.complete_turn(turn(message, state))
    loaded = await storage.conversations.load(KEY)
    assert loaded.last_active_at == local
    assert loaded.last_active_at is not None
    assert loaded.last_active_at.tzinfo is not None
    assert loaded.last_active_at.utcoffset() == timedelta(0)
    window = await storage.windows.current(KEY)
    assert window.opened_at == local and window.opened_at is not None
    assert window.opened_at.tzinfo == UTC or window.opened_at.utcoffset() == timedelta(0)
    assert isinstance(window.opened_at, datetime)
