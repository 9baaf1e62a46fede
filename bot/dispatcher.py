"""The dispatcher: one turn from a parsed message to the messages to send.

load state → work out the intent (a button payload, a numbered answer, the
answer to a pending question, or one NLU call) → the first matching handler
→ its messages. It does not persist anything itself: :mod:`bot.ingest`
commits the returned state, reply and pushes in one transaction.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.handling import INTENT_PAYLOAD_PREFIX, Handler, Turn, chosen_payload
from bot.handoff import HANDOFF_CONTEXT_KEY, turn_lines
from bot.metrics import HANDLER_SECONDS, NLU_REQUESTS, child
from bot.ports import Clock, ConversationStore, HandoffGate, HistoryLine, Understanding
from bot.state import ConversationState
from bot.types import EventKind, InboundKind, InboundMessage, Intent, OutboundMessage

__all__ = ["CHOICES_CONTEXT_KEY", "HANDOFF_HANDLER", "Dispatcher", "TurnOutcome"]

log = logging.getLogger("minhu.dispatcher")

# The buttons of the last message we sent, kept so that a channel without
# buttons can answer "2" (or the button's title) instead of pressing one.
CHOICES_CONTEXT_KEY = "choices"

ERROR_REPLY = OutboundMessage.of_text(
    "抱歉，系统刚才出了点问题，您的消息已经保存。请稍后再试，或拨打12345热线。"
)


# The handler name journaled for a message that reached staff, not the bot.
HANDOFF_HANDLER = "handoff"


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    state: ConversationState
    intent: Intent | None
    handler: str
    messages: Sequence[OutboundMessage]
    # The turn as the staff console shows it (committed with the turn).
    history: Sequence[HistoryLine] = ()


class Dispatcher:
    def __init__(
        self,
        *,
        store: ConversationStore,
        understanding: Understanding,
        handlers: Sequence[Handler],
        clock: Clock,
        flow_expiry: timedelta | None = None,
        flow_expired_notice: str = "",
        handoff: HandoffGate | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("the dispatcher needs at least one handler (a catch-all last)")
        self._store = store
        self._understanding = understanding
        self._handlers = tuple(handlers)
        self._clock = clock
        self._flow_expiry = flow_expiry
        self._flow_expired_notice = flow_expired_notice
        self._handoff = handoff

    async def process(self, message: InboundMessage) -> TurnOutcome:
        state = await self._store.load(message.key)
        now = self._clock()
        # A ticket's progress (or a handoff's start and end) is not the
        # resident's doing: it neither expires their unfinished flow nor
        # counts as activity in it.
        from_resident = message.event not in (EventKind.TICKET, EventKind.HANDOFF)
        case_before = state.context.get(HANDOFF_CONTEXT_KEY)
        if from_resident and isinstance(case_before, str):
            held = await self._with_staff(message, state, case_before, now)
            if held is not None:
                return held
        expired = from_resident and self._expire_flow(state, now)
        payload = message.payload or _numbered_choice(state, message)
        intent = await self._understand(message, state, payload)
        turn = Turn(message=message, state=state, intent=intent, payload=payload, now=now)
        handler = self._select(turn)
        started = time.perf_counter()
        try:
            messages = list(await handler.handle(turn))
        except Exception as exc:
            messages = [ERROR_REPLY]
            state = await self.process_error(message, handler, exc)
        finally:
            child(HANDLER_SECONDS, handler.name).observe(time.perf_counter() - started)
        if expired and self._flow_expired_notice:
            messages = _with_notice(self._flow_expired_notice, messages)
        if from_resident or state.flow is None:
            # A progress push must not take the place of the options of a
            # question the resident is still answering.
            _remember_choices(state, messages)
        if from_resident:
            state.last_active_at = turn.now
        case_after = state.context.get(HANDOFF_CONTEXT_KEY)
        case_id = case_after if isinstance(case_after, str) else None
        if case_id is None and isinstance(case_before, str):
            case_id = case_before
        history = turn_lines(message, intent, messages, case_id=case_id, at=now)
        return TurnOutcome(state=state, intent=intent, handler=handler.name, messages=messages,
                           history=history)

    async def _with_staff(
        self, message: InboundMessage, state: ConversationState, case_id: str, now: datetime
    ) -> TurnOutcome | None:
        """The gate: while the conversation is with staff the bot says nothing;
        the message is only recorded (with its reading, for the console).
        None when the case was closed meanwhile: the bot answers again."""
        if self._handoff is not None and not await self._handoff.hold(case_id, message):
            log.info("handoff %s ended meanwhile; the bot answers again", case_id,
                     extra={"conversation": state.key.as_str()})
            state.context.pop(HANDOFF_CONTEXT_KEY, None)
            return None
        intent: Intent | None = None
        text = (message.text or "").strip()
        if message.payload is None and text and message.kind in (InboundKind.TEXT,
                                                                 InboundKind.VOICE):
            try:
                intent = await self._understanding.parse(text)
            except Exception:
                log.exception("reading a message for staff failed",
                              extra={"conversation": state.key.as_str()})
        state.last_active_at = now
        history = turn_lines(message, intent, (), case_id=case_id, at=now)
        return TurnOutcome(state=state, intent=intent, handler=HANDOFF_HANDLER, messages=(),
                           history=history)

    def _expire_flow(self, state: ConversationState, now: datetime) -> bool:
        """End a flow the resident left for longer than the expiry, before
        understanding, so the new message is read afresh (with NLU)."""
        if (
            self._flow_expiry is None
            or state.flow is None
            or state.last_active_at is None
            or now - state.last_active_at <= self._flow_expiry
        ):
            return False
        log.info("flow %s expired", state.flow, extra={"conversation": state.key.as_str()})
        state.end_flow()
        state.context.pop(CHOICES_CONTEXT_KEY, None)
        return True

    async def process_error(
        self, message: InboundMessage, handler: Handler, exc: BaseException
    ) -> ConversationState:
        """The one place a handler's failure ends up: log it, and continue
        from the state as it was before the turn, since the handler may have
        changed it halfway."""
        log.error(
            "handler %s failed",
            handler.name,
            exc_info=exc,
            extra={"conversation": message.key.as_str(), "message_id": message.message_id},
        )
        return await self._store.load(message.key)

    async def _understand(
        self, message: InboundMessage, state: ConversationState, payload: str | None
    ) -> Intent | None:
        if payload is not None:
            child(NLU_REQUESTS, "payload").inc()
            if payload.startswith(INTENT_PAYLOAD_PREFIX):
                return Intent(name=payload[1:], confidence=1.0, source="payload")
            return None
        text = (message.text or "").strip()
        if not text or message.kind not in (InboundKind.TEXT, InboundKind.VOICE):
            return None
        if state.awaiting is not None:
            # The bot just asked a question: the flow reads the answer itself.
            return None
        return await self._understanding.parse(text)

    def _select(self, turn: Turn) -> Handler:
        for handler in self._handlers:
            if handler.matches(turn):
                return handler
        return self._handlers[-1]


def _numbered_choice(state: ConversationState, message: InboundMessage) -> str | None:
    """Map "2", "２" or a button's exact title to that button's payload."""
    choices = state.context.get(CHOICES_CONTEXT_KEY)
    if not choices or message.kind not in (InboundKind.TEXT, InboundKind.VOICE):
        return None
    answer = unicodedata.normalize("NFKC", (message.text or "").strip()).rstrip("。.！!")
    return chosen_payload(choices, answer)


def _with_notice(
    notice: str, messages: Sequence[OutboundMessage]
) -> list[OutboundMessage]:
    """Put ``notice`` in front of the first message's text (one message, not two,
    so that it still fits a passive reply)."""
    if not messages:
        return [OutboundMessage.of_text(notice)]
    first, *rest = messages
    return [replace(first, text=f"{notice}\n{first.text}" if first.text else notice), *rest]


def _remember_choices(state: ConversationState, messages: Sequence[OutboundMessage]) -> None:
    with_buttons = [m for m in messages if m.buttons]
    if with_buttons:
        buttons = with_buttons[-1].buttons
        state.context[CHOICES_CONTEXT_KEY] = [[b.title, b.payload] for b in buttons]
    elif messages:
        state.context.pop(CHOICES_CONTEXT_KEY, None)
