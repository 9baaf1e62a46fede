"""The handler list, in the order the dispatcher asks them."""

from __future__ import annotations

from bot.handling import Handler
from bot.ports import KnowledgeBase, StaffAlerts, Tickets, Understanding
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
    *, tickets: Tickets, knowledge: KnowledgeBase, alerts: StaffAlerts,
    understanding: Understanding | None = None,
) -> list[Handler]:
    """``understanding`` reads a voice transcript once the resident confirmed it."""
    intake = IntakeFlow(tickets)
    rider = RiderFlow(tickets)
    # Voice notes are echoed for confirmation before anything reads them; the
    # confirmed words go to the handlers after the gate, as if typed.
    voice = VoiceGate(rider, understanding)
    handlers: list[Handler] = [
        # Emergencies first, whatever else is going on.
        EmergencyHandler(tickets, alerts),
        TicketProgressHandler(tickets),
        SilentEventHandler(),
        voice,
        CancelHandler(),
        # A rating may be typed while a flow is pending (its words answer no question).
        RatingHandler(tickets, alerts),
        # The rider fast path: its quick buttons, and its flow's locations and words.
        RiderHandler(rider),
        # Answers to a pending question, photos and locations sent during a flow:
        # before the handlers that would read them as new messages.
        IntakeFlowHandler(intake),
        SupplementHandler(tickets),
        WithdrawHandler(tickets),
        ClarifyHandler(),
        WelcomeHandler(),
        LocationHandler(),
        PhotoHandler(),
        ContactHandler(),
        UnreadableHandler(),
        HumanHandler(),
        MyTicketsHandler(tickets),
        ConsultHandler(knowledge, intake),
        IntakeStartHandler(intake),
        SmallTalkHandler(),
        # The catch-all last.
        FallbackHandler(),
    ]
    voice.bind(handlers[handlers.index(voice) + 1:])
    return handlers
