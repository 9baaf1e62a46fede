"""The handler list, in the order the dispatcher asks them."""

from __future__ import annotations

from collections.abc import Callable

from bot.handling import Handler
from bot.ports import Escalations, KnowledgeBase, StaffAlerts, Tickets, Understanding
from handlers.cancel import CancelHandler
from handlers.clarify import ClarifyHandler
from handlers.consult import ConsultHandler
from handlers.conversation import (
    FallbackHandler,
    HumanHandler,
    SmallTalkHandler,
    WelcomeHandler,
)
from handlers.emergency import EmergencyHandler
from handlers.escalation import (
    Escalator,
    HandoffEventHandler,
    WordTriggerHandler,
    load_escalation_words,
)
from handlers.intake import IntakeFlow, IntakeFlowHandler, IntakeStartHandler
from handlers.media import (
    ContactHandler,
    LocationHandler,
    PhotoHandler,
    SilentEventHandler,
    UnreadableHandler,
)
from handlers.my_tickets import MyTicketsHandler
from handlers.progress import TicketProgressHandler
from handlers.rating import RatingHandler
from handlers.supplement import SupplementHandler
from handlers.voice import RiderFlow, RiderHandler, VoiceGate
from handlers.withdraw import WithdrawHandler

__all__ = ["build_handlers"]


def build_handlers(
    *,
    tickets: Tickets,
    knowledge: KnowledgeBase,
    alerts: StaffAlerts,
    handoff: Escalations | None = None,
    normalise: Callable[[str], str] | None = None,
    understanding: Understanding | None = None,
) -> list[Handler]:
    """``handoff``: staff take over escalated chats (without it the resident is
    pointed to the hotline). ``normalise``: how NLU input is normalised
    (full-width, Traditional Chinese), applied before the escalation words.
    ``understanding`` reads a voice transcript once the resident confirmed it."""
    intake = IntakeFlow(tickets)
    rider = RiderFlow(tickets)
    # Voice notes are echoed for confirmation before anything reads them; the
    # confirmed words go to the handlers after the gate, as if typed.
    voice = VoiceGate(rider, understanding)
    escalator = Escalator(handoff, tickets) if handoff is not None else None
    words: list[Handler] = []
    self_harm: list[Handler] = []
    if escalator is not None:
        lists = load_escalation_words(normalise=normalise)
        self_harm.append(WordTriggerHandler(
            "self_harm", lists.self_harm, escalator, alerts=alerts, normalise=normalise
        ))
        words = [
            WordTriggerHandler("sensitive", lists.sensitive, escalator, normalise=normalise),
            WordTriggerHandler("distress", lists.distress, escalator, normalise=normalise),
        ]
    handlers: list[Handler] = [
        # A handoff opening or ending (fed in by the handoff desk).
        HandoffEventHandler(),
        # A threat of self-harm before anything else, then emergencies.
        *self_harm,
        EmergencyHandler(tickets, alerts, escalator),
        TicketProgressHandler(tickets),
        SilentEventHandler(),
        voice,
        # Petitions, complaints about officials, strong anger: to staff.
        *words,
        # 转人工: also typed while a question is pending.
        HumanHandler(escalator),
        CancelHandler(),
        # A rating may be typed while a flow is pending (its words answer no question).
        RatingHandler(tickets, alerts, escalator),
        # The rider fast path: its quick buttons, and its flow's locations and words.
        RiderHandler(rider),
        # Answers to a pending question, photos and locations sent during a flow:
        # before the handlers that would read them as new messages.
        IntakeFlowHandler(intake),
        SupplementHandler(tickets),
        WithdrawHandler(tickets),
        ClarifyHandler(escalator),
        WelcomeHandler(),
        LocationHandler(),
        PhotoHandler(),
        ContactHandler(),
        UnreadableHandler(),
        MyTicketsHandler(tickets),
        ConsultHandler(knowledge, intake),
        IntakeStartHandler(intake),
        SmallTalkHandler(),
        # The catch-all last.
        FallbackHandler(escalator),
    ]
    voice.bind(handlers[handlers.index(voice) + 1:])
    return handlers
