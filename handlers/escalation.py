"""Handing a conversation to staff: the shared step, the word triggers, and
the handoff's own events.

:class:`Escalator` is what every trigger calls (the 转人工 menu, two unclear
turns, a second bad rating, an emergency, the words below): it opens the case,
marks the conversation as with staff (the dispatcher then keeps the bot
silent), and words what the resident is told: a person is coming and how long
it may take, or, outside service hours, when staff are back and that the
matter was filed as a ticket so that nothing is lost.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.errors import MinhuError
from bot.handling import Turn
from bot.handoff import HANDOFF_CONTEXT_KEY, parse_handoff_event
from bot.ports import Escalations, StaffAlerts, SubmitResult, Tickets
from bot.types import (
    REQUEST_TYPES,
    EventKind,
    HandoffQueue,
    HandoffReason,
    InboundKind,
    Location,
    OutboundMessage,
    TicketDraft,
)
from handlers.ids import action_id
from handlers.parsing import find_address

__all__ = [
    "HANDBACK_NOTICE",
    "IDLE_NOTICE",
    "SELF_HARM_ADVICE",
    "EscalationWords",
    "Escalator",
    "HandoffEventHandler",
    "WordTriggerHandler",
    "default_words_path",
    "load_escalation_words",
]

log = logging.getLogger("minhu.handlers.escalation")

HANDBACK_NOTICE = (
    "人工服务已结束，接下来由智能助手继续为您服务。如需再次转人工，请回复“转人工”。"
)
IDLE_NOTICE = (
    "由于较长时间没有新消息，本次人工服务已结束，接下来由智能助手继续为您服务。"
    "如需人工帮助，请回复“转人工”。"
)
# 12356 is the national psychological assistance hotline; 400-161-9995 the
# long-running crisis line (希望24热线); 110/120 when life is in danger now.
SELF_HARM_ADVICE = (
    "您的安全最重要。如果您现在有伤害自己的想法，请立即拨打心理援助热线12356"
    "或400-161-9995，情况危急请马上拨打110或120。"
)
_SENSITIVE_LEAD = "您反映的事项我们会请值班负责同志专门处理。"
_DISTRESS_LEAD = "非常理解您现在的心情，给您带来困扰，我们很抱歉。"
_NO_TEXT = "（居民未留文字）"
_NO_PLACE = "未提供（转人工留言，待工作人员回访核实）"


# ---------------------------------------------------------------- the shared step


class Escalator:
    """Opens a case for the turn's conversation and words the resident's notice."""

    def __init__(self, desk: Escalations, tickets: Tickets) -> None:
        self._desk = desk
        self._tickets = tickets

    async def hand_over(
        self,
        turn: Turn,
        *,
        reason: HandoffReason,
        summary: str = "",
        queue: HandoffQueue | None = None,
        file_after_hours: bool = True,
    ) -> str:
        """Open the case; return what to tell the resident (no leading words)."""
        state = turn.state
        key = turn.message.key
        texts = await self._desk.recent_text(key)
        if turn.is_text and turn.text not in texts[-1:]:
            texts.append(turn.text)
        case = await self._desk.escalate(
            key, reason=reason, summary=summary or "；".join(texts)[-200:] or _NO_TEXT,
            queue=queue,
        )
        # Staff take it from here: an unfinished request is left to them.
        state.end_flow()
        state.unclear_turns = 0
        state.context[HANDOFF_CONTEXT_KEY] = case.case_id
        outlook = await self._desk.outlook(case)
        lines: list[str] = []
        if outlook.after_hours:
            lines.append(
                f"现在是非工作时间（人工服务时间：{outlook.hours}），"
                f"工作人员将于{outlook.back_text}上班后尽快回复您。"
            )
            if file_after_hours:
                lines.append(await self._file(turn, texts, summary))
        else:
            ahead = (
                f"前面还有{outlook.ahead}位居民在等待，" if outlook.ahead else ""
            )
            lines.append(
                f"正在为您转接人工服务，请稍候。{ahead}预计等待约{outlook.wait_minutes}分钟。"
            )
        lines.append("在此期间您可以继续留言，您的消息都会转给工作人员。")
        return "\n".join(lines)

    async def _file(self, turn: Turn, texts: list[str], summary: str) -> str:
        """Outside service hours: a ticket, so that the matter is not lost."""
        intent = turn.intent
        request_type = (
            intent.name if intent is not None and intent.name in REQUEST_TYPES else "seek_help"
        )
        description = "\n".join(texts) or summary or "居民在非工作时间申请人工服务，未留文字。"
        address, location = _place(turn, texts)
        draft = TicketDraft(
            request_type=request_type,
            category=intent.category if intent is not None else "其他",
            description=f"【非工作时间转人工】{description}"[:4000],
            address=address,
            location=location,
        )
        try:
            result: SubmitResult = await self._tickets.submit(
                turn.message.key, draft, submission_id=action_id(turn, "handoff")
            )
        except MinhuError:
            log.exception("could not file the after-hours request",
                          extra={"conversation": turn.message.key.as_str()})
            return "您的留言已经保存，工作人员上班后会第一时间处理。"
        if result.ticket_id:
            return f"您反映的内容已登记为工单，编号{result.ticket_id}，不会遗漏。"
        return "您反映的内容正在登记为工单，编号稍后发给您，不会遗漏。"


def _place(turn: Turn, texts: Sequence[str]) -> tuple[str, Location | None]:
    """Where the matter is, as far as the conversation tells (a backend wants a place)."""
    data = turn.state.context.get("location")
    if isinstance(data, dict) and "latitude" in data and "longitude" in data:
        label = str(data.get("label") or "") or None
        location = Location(float(data["latitude"]), float(data["longitude"]), label)
        return label or "居民发送的位置", location
    for text in reversed(texts):
        found = find_address(text)
        if found:
            return found, None
    return _NO_PLACE, None


# ---------------------------------------------------------------- word triggers


@dataclass(frozen=True, slots=True)
class EscalationWords:
    self_harm: tuple[re.Pattern[str], ...]
    sensitive: tuple[re.Pattern[str], ...]
    distress: tuple[re.Pattern[str], ...]


def default_words_path() -> Path:
    return Path(__file__).with_name("data") / "escalation_words.yml"


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _compact(text: str) -> str:
    return "".join(text.split())


def load_escalation_words(
    path: Path | None = None, *, normalise: Callable[[str], str] | None = None
) -> EscalationWords:
    """The word lists, each entry normalised like the text it is matched against."""
    normalise = normalise or _nfkc
    data = yaml.safe_load((path or default_words_path()).read_text(encoding="utf-8")) or {}

    def patterns(name: str) -> tuple[re.Pattern[str], ...]:
        entries: Iterable[object] = data.get(name) or ()
        return tuple(re.compile(_compact(normalise(str(entry)))) for entry in entries)

    return EscalationWords(patterns("self_harm"), patterns("sensitive"), patterns("distress"))


class WordTriggerHandler:
    """A typed or spoken message with words of one list hands the conversation over.

    ``kind`` is ``self_harm`` (crisis hotlines first, supervisors' queue, staff
    alerted), ``sensitive`` (supervisors' queue) or ``distress``.
    """

    def __init__(
        self,
        kind: str,
        patterns: Sequence[re.Pattern[str]],
        escalator: Escalator,
        *,
        normalise: Callable[[str], str] | None = None,
        alerts: StaffAlerts | None = None,
    ) -> None:
        if kind not in ("self_harm", "sensitive", "distress"):
            raise ValueError(f"unknown escalation word list {kind!r}")
        self.name = f"escalation_{kind}"
        self._kind = kind
        self._patterns = tuple(patterns)
        self._any = (
            re.compile("|".join(f"(?:{p.pattern})" for p in self._patterns))
            if self._patterns else None
        )
        self._escalator = escalator
        self._normalise = normalise or _nfkc
        self._alerts = alerts

    def _hit(self, turn: Turn) -> str | None:
        if turn.payload is not None or not turn.is_text:
            return None
        text = _compact(self._normalise(turn.text))
        # One search over all the words first: nearly every message has none.
        if self._any is None or self._any.search(text) is None:
            return None
        for pattern in self._patterns:
            match = pattern.search(text)
            if match:
                return match.group(0)
        return None

    def matches(self, turn: Turn) -> bool:
        return self._hit(turn) is not None

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        words = self._hit(turn) or ""
        if self._kind == "self_harm":
            lead = SELF_HARM_ADVICE
            reason = HandoffReason.SENSITIVE
            summary = f"疑似自伤风险（“{words}”）：{turn.text}"
            await self._alert(turn, summary)
        elif self._kind == "sensitive":
            lead = _SENSITIVE_LEAD
            reason = HandoffReason.SENSITIVE
            summary = f"敏感事项（“{words}”）：{turn.text}"
        else:
            lead = _DISTRESS_LEAD
            reason = HandoffReason.DISTRESS
            summary = f"情绪激动（“{words}”）：{turn.text}"
        notice = await self._escalator.hand_over(turn, reason=reason, summary=summary[:300])
        return [OutboundMessage.of_text(f"{lead}\n{notice}")]

    async def _alert(self, turn: Turn, text: str) -> None:
        if self._alerts is None:
            return
        try:
            await self._alerts.alert(kind="self_harm", key=turn.message.key, text=text)
        except MinhuError:
            log.exception("could not alert staff to a self-harm risk",
                          extra={"conversation": turn.message.key.as_str()})


# ---------------------------------------------------------------- the handoff's events


class HandoffEventHandler:
    """A case opened or ended (fed in by ``bot.handoff.HandoffDesk``): mark the
    conversation, or give it back to the bot and tell the resident."""

    name = "handoff_event"

    def matches(self, turn: Turn) -> bool:
        message = turn.message
        return message.kind is InboundKind.EVENT and message.event is EventKind.HANDOFF

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        event = parse_handoff_event(turn.message)
        if event is None:
            return []
        context = turn.state.context
        current = context.get(HANDOFF_CONTEXT_KEY)
        if event.action == "opened":
            if current is None:
                # Opened outside a turn of this conversation (e.g. by staff).
                turn.state.end_flow()
                context[HANDOFF_CONTEXT_KEY] = event.case_id
            return []
        if current is not None and current != event.case_id:
            return []  # an older case ended; a newer one is still open
        context.pop(HANDOFF_CONTEXT_KEY, None)
        turn.state.unclear_turns = 0
        notice = IDLE_NOTICE if event.action == "idle" else HANDBACK_NOTICE
        return [OutboundMessage.of_text(notice)]
