"""The handlers that enter and continue the intake dialogue."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.types import REQUEST_TYPES, InboundKind, OutboundMessage
from handlers.clarify import PENDING_TEXT
from handlers.intake.answers import is_description
from handlers.intake.flow import IntakeFlow
from handlers.intake.specs import INTAKE_FLOW, PAYLOAD_PREFIX

__all__ = ["REPORT_MENU_PAYLOAD", "IntakeFlowHandler", "IntakeStartHandler"]

REPORT_MENU_PAYLOAD = "MENU_REPORT"
# Consulting goes to the knowledge base first (handlers.consult).
_FILED_DIRECTLY = frozenset(REQUEST_TYPES) - {"consult"}
# After "我要反映", what NLU calls these is still the resident describing a problem.
_DESCRIBING = frozenset({"out_of_scope", "nlu_fallback", "affirm", "deny"})
_ANSWER_KINDS = frozenset({InboundKind.IMAGE, InboundKind.LOCATION, InboundKind.CONTACT})


class IntakeFlowHandler:
    """Answers to the intake's questions: typed, tapped, photos and locations."""

    name = "intake"

    def __init__(self, flow: IntakeFlow) -> None:
        self._flow = flow

    def matches(self, turn: Turn) -> bool:
        if turn.payload is not None:
            return turn.payload.startswith(PAYLOAD_PREFIX)
        state = turn.state
        return (
            state.flow == INTAKE_FLOW
            and state.awaiting is not None
            and (turn.is_text or turn.message.kind in _ANSWER_KINDS)
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        if turn.state.flow != INTAKE_FLOW:
            # A button from a summary that was already filed or cancelled.
            return [OutboundMessage.of_text(
                "这一步已经结束了。如需反映新的问题，请直接描述。"
            )]
        return await self._flow.answer(turn)


class IntakeStartHandler:
    """A request understood from what the resident wrote, or "我要反映" from the menu."""

    name = "intake_start"

    def __init__(self, flow: IntakeFlow) -> None:
        self._flow = flow

    def matches(self, turn: Turn) -> bool:
        if turn.payload == REPORT_MENU_PAYLOAD or turn.intent_is("report_start"):
            return True
        intent = turn.intent
        if intent is None:
            return False
        if intent.name in _FILED_DIRECTLY:
            return True
        state = turn.state
        return (
            state.flow == INTAKE_FLOW
            and state.awaiting is None
            and intent.source != "payload"
            and intent.name in _DESCRIBING
            and is_description(turn.text)
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        intent = turn.intent
        if intent is None or intent.name == "report_start":
            return [self._flow.open_report(turn)]
        if intent.name not in _FILED_DIRECTLY:
            return [self._flow.start_untyped(turn, text=turn.text, category=intent.category)]
        text, category = turn.text, intent.category
        pending = state.context.pop(PENDING_TEXT, None)
        if intent.source == "payload":
            # The resident picked this reading of what they wrote before.
            if isinstance(pending, dict):
                text = str(pending.get("text") or "")
                category = str(pending.get("category") or category)
            else:
                text = ""
        label = REQUEST_TYPES[intent.name]
        about = f"（{category}类）" if category and category != "其他" else ""
        if is_description(text):
            prefix = f"收到您的{label}{about}。"
        else:
            prefix = f"好的，我来帮您登记{label}。"
        return [self._flow.start(
            turn, intent.name, text=text, category=category or "其他",
            phone=intent.entity("phone"), prefix=prefix,
        )]
