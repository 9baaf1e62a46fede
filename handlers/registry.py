"""The handler list, in the order the dispatcher asks them."""

from __future__ import annotations

from bot.handling import Handler
from bot.ports import KnowledgeBase, StaffAlerts, Tickets
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
from handlers.withdraw import WithdrawHandler

__all__ = ["build_handlers"]


def build_handlers(
    *, tickets: Tickets, knowledge: KnowledgeBase, alerts: StaffAlerts
) -> list[Handler]:
    intake = IntakeFlow(tickets)
    return [
        # Emergencies first, whatever else is going on.
        EmergencyHandler(tickets, alerts),
        TicketProgressHandler(tickets),
        SilentEventHandler(),
        CancelHandler(),
        # A rating may be typed while a flow is pending (its words answer no question).
        RatingHandler(tickets, alerts),
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
