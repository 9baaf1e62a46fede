"""The intake dialogue: one engine for the six request types."""

from handlers.intake.entry import REPORT_MENU_PAYLOAD, IntakeFlowHandler, IntakeStartHandler
from handlers.intake.flow import IntakeFlow, filed_message, optional_question_pending
from handlers.intake.specs import INTAKE_FLOW

__all__ = [
    "INTAKE_FLOW",
    "REPORT_MENU_PAYLOAD",
    "IntakeFlow",
    "IntakeFlowHandler",
    "IntakeStartHandler",
    "filed_message",
    "optional_question_pending",
]
