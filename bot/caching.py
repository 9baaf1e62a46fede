"""A bounded in-process cache of conversation state in front of the store.

Every turn starts by loading the conversation; on a busy replica most of
those loads are for conversations this replica saved moments ago. The
cache keeps the state it saved and hands out copies. It can never make a
turn commit on stale data: the store's optimistic ``version`` check
refuses a save based on a state another replica changed meanwhile, and
the cache then forgets that conversation, so the retried turn loads it
fresh. With several replicas, :meth:`offer` refreshes an entry from the
state the journal read when it accepted the message, so a replica's stale
copy is replaced before the turn instead of costing a conflict.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime

from bot.errors import ConcurrentUpdate
from bot.ports import ConversationStore, TurnRecord
from bot.state import ConversationState
from bot.types import ConversationKey

__all__ = ["CachingConversationStore"]


class CachingConversationStore:
    def __init__(self, inner: ConversationStore, *, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._inner = inner
        self._capacity = capacity
        # Snapshots, not live objects: a turn gets its own copy, and a full
        # cache adds a few thousand strings to the heap rather than tens of
        # thousands of dicts for the garbage collector to walk.
        self._states: OrderedDict[ConversationKey, _Snapshot] = OrderedDict()

    async def load(self, key: ConversationKey) -> ConversationState:
        cached = self._states.get(key)
        if cached is not None:
            self._states.move_to_end(key)
            return _restore(key, cached)
        state = await self._inner.load(key)
        self._remember(state)
        return state

    async def complete_turn(self, record: TurnRecord) -> None:
        key = record.state.key
        try:
            await self._inner.complete_turn(record)
        except ConcurrentUpdate:
            self._states.pop(key, None)
            raise
        except Exception:
            # The outcome is unknown (the commit may or may not have happened).
            self._states.pop(key, None)
            raise
        self._remember(record.state)

    def offer(self, state: ConversationState) -> None:
        """Take ``state``, just read from the store, unless the cache holds a
        newer version (a turn of this replica committed after the read).

        The journal reads the conversation when it accepts a message, so a
        turn starts from the stored state even when another replica changed
        it since this one cached it."""
        cached = self._states.get(state.key)
        if cached is None or cached[1] < state.version:
            self._remember(state)

    def forget(self, key: ConversationKey) -> None:
        self._states.pop(key, None)

    def _remember(self, state: ConversationState) -> None:
        data = json.dumps(state.data_json(), ensure_ascii=False, separators=(",", ":"))
        self._states[state.key] = (data, state.version, state.last_active_at)
        self._states.move_to_end(state.key)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)


# (the state's JSON text, its version, last_active_at): a deep copy that
# nothing can change in place.
_Snapshot = tuple[str, int, datetime | None]


def _restore(key: ConversationKey, snapshot: _Snapshot) -> ConversationState:
    data, version, last_active_at = snapshot
    return ConversationState.from_json(
        key, json.loads(data), version=version, last_active_at=last_active_at
    )
