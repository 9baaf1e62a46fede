"""The handler list, in the order the dispatcher asks them."""

from __future__ import annotations

from bot.handling import Handler
from handlers.clarify import ClarifyHandler
from handlers.conversation import FallbackHandler, SmallTalkHandler, WelcomeHandler
from handlers.emergency import EmergencyHandler
from handlers.media import LocationHandler, PhotoHandler, SilentEventHandler, UnreadableHandler
from handlers.requests import HumanHandler, MyRequestsHandler, RequestHandler, StartReportHandler

__all__ = ["build_handlers"]


def build_handlers() -> list[Handler]:
    # Emergencies first, whatever else is going on; the catch-all last.
    return [
        EmergencyHandler(),
        SilentEventHandler(),
        ClarifyHandler(),
        WelcomeHandler(),
        LocationHandler(),
        PhotoHandler(),
        UnreadableHandler(),
        HumanHandler(),
        StartReportHandler(),
        MyRequestsHandler(),
        RequestHandler(),
        SmallTalkHandler(),
        FallbackHandler(),
    ]
