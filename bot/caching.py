"""A bounded in-process cache of conversation state in front of the store.

Every turn starts by loading the conversation; on a busy replica most of
those loads are for conversations this replica saved moments ago. The
cache keeps the state it saved and hands out copies. It can never make a
turn commit on stale data: the store's optimistic ``version`` check
refuses a save based on a state another replica changed meanwhile, and
the cache then forgets that conversation, so the retried turn loads it
fresh.
"""

from __future__ import annotations

from collections import OrderedDict

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
        self._states: OrderedDict[ConversationKey, ConversationState] = OrderedDict()

    async def load(self, key: ConversationKey) -> ConversationState:
        cached = self._states.get(key)
        if cached is not None:
            self._states.move_to_end(key)
            return _copy(cached)
        state = await self._inner.load(key)
        self._remember(_copy(state))
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
        self._remember(_copy(record.state))

    def forget(self, key: ConversationKey) -> None:
        self._states.pop(key, None)

    def _remember(self, state: ConversationState) -> None:
        self._states[state.key] = state
        self._states.move_to_end(state.key)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)


def _copy(state: ConversationState) -> ConversationState:
    return ConversationState.from_json(
        state.key,
        state.data_json(),
        version=state.version,
        last_active_at=state.last_active_at,
    )
