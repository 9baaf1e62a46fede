"""Low-confidence understanding: ask, with buttons, rather than guess."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn, intent_button
from bot.types import Button, OutboundMessage
from handlers.conversation import unclear_again
from handlers.escalation import Escalator
from handlers.texts import INTENT_LABELS

__all__ = ["CLARIFY_BELOW", "PENDING_TEXT", "ClarifyHandler"]

# Below this confidence the model's first choice is a guess worth checking.
CLARIFY_BELOW = 0.55
# The text the resident wrote before we asked; the chosen handler reads it.
PENDING_TEXT = "pending_text"
# Intents not worth offering as a reading of an unclear message.
_NOT_OFFERED = frozenset({"affirm", "deny", "greet", "goodbye", "thank", "out_of_scope",
                          "cancel", "nlu_fallback"})


class ClarifyHandler:
    name = "clarify"

    def __init__(self, escalator: Escalator | None = None) -> None:
        self._escalator = escalator

    def matches(self, turn: Turn) -> bool:
        intent = turn.intent
        return (
            intent is not None
            and intent.source == "rasa"
            and intent.confidence < CLARIFY_BELOW
            and intent.name != "emergency"
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        intent = turn.intent
        assert intent is not None
        state = turn.state
        state.unclear_turns += 1
        if state.unclear_turns >= 2:
            return await unclear_again(turn, self._escalator, "抱歉，我还是没能准确理解您的意思。")
        readings = [intent.name, *(name for name, _ in intent.alternatives)]
        buttons: list[Button] = []
        for name in readings:
            if name in INTENT_LABELS and name not in _NOT_OFFERED and len(buttons) < 3:
                buttons.append(intent_button(INTENT_LABELS[name], name))
        if not buttons:
            return [
                OutboundMessage.with_buttons(
                    "抱歉，我没能理解您的意思。能换个说法再描述一下吗？",
                    (intent_button("转人工", "human"),),
                )
            ]
        state.context[PENDING_TEXT] = {"text": turn.text, "category": intent.category}
        buttons.append(intent_button("都不是", "none"))
        return [OutboundMessage.with_buttons("请问您是想：", tuple(buttons))]
