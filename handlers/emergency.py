"""Danger to life or property right now: point to the emergency numbers first."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.types import OutboundMessage

__all__ = ["EMERGENCY_ADVICE", "EmergencyHandler"]

# Emergencies are not hotline work (domain.md §1): the first thing the
# resident reads must be the number to call.
EMERGENCY_ADVICE = (
    "情况紧急请立即拨打：报警110，火警119，急救120。\n"
    "请先确保自身安全，远离危险区域。"
)


class EmergencyHandler:
    name = "emergency"

    def matches(self, turn: Turn) -> bool:
        return turn.intent_is("emergency")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        return [OutboundMessage.of_text(EMERGENCY_ADVICE)]
