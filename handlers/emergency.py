"""Danger to life or property right now: the emergency numbers first, then staff."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.errors import MinhuError
from bot.handling import Turn
from bot.ports import StaffAlerts, SubmitResult, Tickets
from bot.types import EMERGENCY_ADVICE, HandoffReason, Location, OutboundMessage, TicketDraft
from handlers.escalation import Escalator
from handlers.ids import action_id
from handlers.intake import INTAKE_FLOW
from handlers.intake.form import IntakeForm, Slot
from handlers.parsing import looks_like_emergency

__all__ = ["EMERGENCY_ADVICE", "EmergencyHandler"]

log = logging.getLogger("minhu.handlers.emergency")


class EmergencyHandler:
    """The emergency intent, or an emergency typed while a question is pending
    (NLU is skipped then, so a few unmistakable words are looked for here)."""

    name = "emergency"

    def __init__(
        self, tickets: Tickets, alerts: StaffAlerts, escalator: Escalator | None = None
    ) -> None:
        self._tickets = tickets
        self._alerts = alerts
        self._escalator = escalator

    def matches(self, turn: Turn) -> bool:
        if turn.intent_is("emergency"):
            return True
        return (
            turn.state.awaiting is not None
            and turn.payload is None
            and turn.is_text
            and looks_like_emergency(turn.text)
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        address, location = _place(turn)
        interrupted = state.flow is not None
        state.end_flow()
        text = turn.text or "（居民通过紧急入口求助，未留文字）"
        draft = TicketDraft(
            request_type="seek_help",
            category="其他",
            description=text,
            address=address,
            location=location,
            urgent=True,
        )
        lines = [EMERGENCY_ADVICE]
        # The advice must reach the resident even if filing or alerting fails.
        key = turn.message.key
        result: SubmitResult | None = None
        try:
            result = await self._tickets.submit(
                key, draft, submission_id=action_id(turn, "emergency")
            )
        except MinhuError:
            log.exception("could not file an emergency", extra={"conversation": key.as_str()})
        alerted = True
        try:
            await self._alerts.alert(
                kind="emergency", key=key, text=text,
                ticket_id=result.ticket_id if result else None,
            )
        except MinhuError:
            alerted = False
            log.exception("could not alert staff to an emergency",
                          extra={"conversation": key.as_str()})
        notes = ["已通知值班工作人员"] if alerted else []
        if result is not None and result.ticket_id:
            notes.append(f"紧急工单编号{result.ticket_id}")
        elif result is not None:
            notes.append("紧急工单正在登记，编号稍后发给您")
        if notes:
            lines.append("，".join(notes) + "。")
        if result is None or not alerted:
            lines.append("请务必直接拨打上面的电话。")
        if interrupted:
            lines.append("刚才未填完的事项已取消，之后可以重新反映。")
        if self._escalator is not None:
            # After the advice and the urgent ticket: a person follows up.
            try:
                lines.append(await self._escalator.hand_over(
                    turn, reason=HandoffReason.EMERGENCY, summary=f"紧急情况：{text}",
                    file_after_hours=False,
                ))
            except MinhuError:
                log.exception("could not hand an emergency to staff",
                              extra={"conversation": key.as_str()})
        return [OutboundMessage.of_text("\n".join(lines))]


def _place(turn: Turn) -> tuple[str | None, Location | None]:
    """Where the resident is, as far as the conversation tells."""
    state = turn.state
    if state.flow == INTAKE_FLOW:
        form = IntakeForm(state.slots)
        if form.has(Slot.ADDRESS):
            return form.text(Slot.ADDRESS), form.location
    if turn.message.location is not None:
        return turn.message.location.label, turn.message.location
    data = state.context.get("location")
    if isinstance(data, dict) and "latitude" in data and "longitude" in data:
        label = data.get("label") or None
        location = Location(float(data["latitude"]), float(data["longitude"]), label)
        return label, location
    return None, None
