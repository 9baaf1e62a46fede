"""Ending whatever the resident is in the middle of."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.types import OutboundMessage
from handlers.intake import optional_question_pending
from handlers.parsing import is_cancel_text
from handlers.texts import CANCELLED
from handlers.withdraw import KEPT, WITHDRAW_FLOW

__all__ = ["CancelHandler"]


class CancelHandler:
    """The cancel intent or button at any point, or 取消/算了/不办了… typed while
    a question is pending (when NLU is skipped, so the words are read here)."""

    name = "cancel"

    def matches(self, turn: Turn) -> bool:
        if turn.intent_is("cancel"):
            return True
        state = turn.state
        if state.awaiting is None or turn.payload is not None or not turn.is_text:
            return False
        optional = optional_question_pending(state.flow, state.awaiting, state.slots)
        return is_cancel_text(turn.text, optional_question=optional)

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        if state.flow is None:
            return [OutboundMessage.of_text("好的。目前没有正在办理的事项。")]
        flow = state.flow
        state.end_flow()
        # Calling off a withdrawal keeps the request going; anything else is dropped.
        return [OutboundMessage.of_text(KEPT if flow == WITHDRAW_FLOW else CANCELLED)]
