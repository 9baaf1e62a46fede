from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.caching import CachingConversationStore
from bot.errors import ConcurrentUpdate
from bot.ports import TurnRecord
from bot.types import Channel, ConversationKey, InboundKind, InboundMessage
from integrations.storage import memory_storage

KEY = ConversationKey(Channel.WECHAT, "gh", "o1")


def turn(state, n: int) -> TurnRecord:  # type: ignore[no-untyped-def]
    message = InboundMessage(KEY, str(n), InboundKind.TEXT, datetime(2026, 1, 1, tzinfo=UTC), "x")
    return TurnRecord(message, state, None, "h", None, [])


async def test_cached_state_is_a_copy_and_a_stale_one_is_refused_then_reloaded() -> None:
    storage = memory_storage()
    ours = CachingConversationStore(storage.conversations)
    other_replica = storage.conversations

    state = await ours.load(KEY)
    state.slots["where"] = "和平路"
    await ours.complete_turn(turn(state, 1))
    state.slots["where"] = "changed after saving"  # must not leak into the cache
    assert (await ours.load(KEY)).slots["where"] == "和平路"

    theirs = await other_replica.load(KEY)
    theirs.slots["where"] = "幸福里"
    await other_replica.complete_turn(turn(theirs, 2))

    stale = await ours.load(KEY)  # still the cached copy
    assert stale.slots["where"] == "和平路"
    with pytest.raises(ConcurrentUpdate):
        await ours.complete_turn(turn(stale, 3))
    assert (await ours.load(KEY)).slots["where"] == "幸福里"


async def test_capacity_is_bounded() -> None:
    storage = memory_storage()
    cache = CachingConversationStore(storage.conversations, capacity=2)
    for user in ("a", "b", "c"):
        await cache.load(ConversationKey(Channel.WECHAT, "gh", user))
    assert len(cache._states) == 2


async def test_a_state_read_at_acceptance_replaces_a_stale_copy_but_not_a_newer_one() -> None:
    """Two replicas share the database: the state the journal reads when it accepts
    a message brings this replica's cache up to date before the turn, so the turn
    does not run on an old copy (and then have to run again)."""
    storage = memory_storage()
    ours = CachingConversationStore(storage.conversations)
    other_replica = storage.conversations

    state = await ours.load(KEY)
    state.slots["where"] = "和平路"
    await ours.complete_turn(turn(state, 1))  # cached: version 1

    theirs = await other_replica.load(KEY)
    theirs.slots["where"] = "幸福里"
    await other_replica.complete_turn(turn(theirs, 2))  # stored: version 2

    message = InboundMessage(KEY, "3", InboundKind.TEXT, datetime(2026, 1, 1, tzinfo=UTC), "x")
    acceptance = await storage.journal.accept(message, owner="us", lease_seconds=30)
    assert acceptance.state is not None
    ours.offer(acceptance.state)
    current = await ours.load(KEY)
    assert (current.version, current.slots["where"]) == (2, "幸福里")
    current.slots["when"] = "昨天"
    await ours.complete_turn(turn(current, 3))  # no ConcurrentUpdate: it was fresh

    # An older read offered late (its turn waited behind ours) changes nothing.
    ours.offer(acceptance.state)
    assert (await ours.load(KEY)).slots == {"where": "幸福里", "when": "昨天"}


async def test_nested_values_of_a_loaded_state_are_not_shared_with_the_cache() -> None:
    storage = memory_storage()
    cache = CachingConversationStore(storage.conversations)
    state = await cache.load(KEY)
    state.context["choices"] = [["确认提交", "INTAKE:confirm"]]
    await cache.complete_turn(turn(state, 1))
    loaded = await cache.load(KEY)
    loaded.context["choices"].append(["修改", "INTAKE:edit"])
    assert (await cache.load(KEY)).context["choices"] == [["确认提交", "INTAKE:confirm"]]
