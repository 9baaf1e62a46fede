"""咨询: the knowledge base answers what it can; the rest is filed for staff to answer."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.ports import KnowledgeAnswer, KnowledgeBase
from bot.types import Button, OutboundMessage
from handlers.clarify import PENDING_TEXT
from handlers.intake import INTAKE_FLOW, IntakeFlow
from handlers.intake.answers import is_description
from handlers.parsing import tidy

__all__ = ["CONSULT_FILE", "CONSULT_FLOW", "CONSULT_SOLVED", "ConsultHandler"]

CONSULT_FLOW = "consult"
CONSULT_SOLVED = "CONSULT:solved"
CONSULT_FILE = "CONSULT:file"
# The question last answered from the knowledge base, in case it did not help.
_ASKED = "consult_question"
_QUESTION = "question"
_NOT_BINDING = "（以上为一般性办事指引，具体以办理部门的要求为准。）"


class ConsultHandler:
    name = "consult"

    def __init__(self, knowledge: KnowledgeBase, intake: IntakeFlow) -> None:
        self._knowledge = knowledge
        self._intake = intake

    def matches(self, turn: Turn) -> bool:
        if turn.payload in (CONSULT_SOLVED, CONSULT_FILE) or turn.intent_is("consult"):
            return True
        state = turn.state
        return state.flow == CONSULT_FLOW and state.awaiting == _QUESTION and turn.is_text

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        if turn.payload == CONSULT_SOLVED:
            state.context.pop(_ASKED, None)
            return [OutboundMessage.of_text("很高兴能帮到您，有其他问题随时找我。")]
        if turn.payload == CONSULT_FILE:
            asked = state.context.pop(_ASKED, None)
            text, category = "", "其他"
            if isinstance(asked, dict):
                text = str(asked.get("text") or "")
                category = str(asked.get("category") or "其他")
            return [self._intake.start(
                turn, "consult", text=text, category=category,
                prefix="好的，帮您登记，由工作人员答复。",
            )]
        text, category = self._question(turn)
        # A question asked for, or "我要反映" followed by a question: either way done.
        if state.flow == CONSULT_FLOW or (state.flow == INTAKE_FLOW and state.awaiting is None):
            state.end_flow()
        if not is_description(text):
            state.start_flow(CONSULT_FLOW, awaiting=_QUESTION)
            state.slots["category"] = category
            return [OutboundMessage.of_text("请问您想咨询什么问题？")]
        answer = await self._knowledge.search(text)
        if answer is None:
            return [self._intake.start(
                turn, "consult", text=text, category=category,
                prefix="这个问题需要工作人员答复，我帮您登记一下。",
            )]
        state.context[_ASKED] = {"text": text, "category": category}
        return [_answer_message(answer)]

    def _question(self, turn: Turn) -> tuple[str, str]:
        """The question asked, and its category, wherever it came from."""
        state = turn.state
        intent = turn.intent
        if state.flow == CONSULT_FLOW:
            return tidy(turn.text), str(state.slots.get("category") or "其他")
        pending = state.context.pop(PENDING_TEXT, None)
        category = intent.category if intent is not None else "其他"
        if intent is not None and intent.source == "payload":
            # The resident picked "咨询" as the reading of what they wrote before.
            if isinstance(pending, dict):
                return str(pending.get("text") or ""), str(pending.get("category") or category)
            return "", category
        return turn.text, category


def _answer_message(answer: KnowledgeAnswer) -> OutboundMessage:
    lines = [answer.answer.strip()]
    lines.extend(f"参考：{link}" for link in answer.links)
    lines.append(_NOT_BINDING)
    lines.append("这个回答解决您的问题了吗？")
    return OutboundMessage.with_buttons(
        "\n".join(lines),
        (Button("解决了", CONSULT_SOLVED), Button("没解决，帮我登记", CONSULT_FILE)),
    )
