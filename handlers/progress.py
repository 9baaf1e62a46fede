"""Telling the resident how their ticket is going, as each status change arrives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.handling import Turn
from bot.ports import Tickets
from bot.types import EventKind, InboundKind, OutboundMessage, StatusChange, TicketStatus
from handlers.rating import ask_rating
from handlers.tickets import is_own_change

__all__ = ["TicketProgressHandler", "progress_text"]


def progress_text(change: StatusChange) -> str:
    """The change in words: number, status, department, note, what comes next."""
    number = change.ticket_id
    department = change.department
    note = (change.note or "").strip()
    status = change.status
    lines: list[str]
    if status is TicketStatus.ACCEPTED:
        lines = [f"您的诉求已登记，工单编号{number}。",
                 "我们会尽快派给承办部门，有进展会在这里通知您。"]
    elif status is TicketStatus.DISPATCHED:
        lines = [f"您的诉求（工单{number}）已派单"
                 + (f"，由{department}办理。" if department else "，承办部门正在接手。"),
                 "办理后会在这里答复您。"]
    elif status is TicketStatus.REASSIGNED:
        lines = [f"您的诉求（工单{number}）已改派"
                 + (f"给{department}办理。" if department else "给更合适的部门办理。"),
                 "办理后会在这里答复您。"]
    elif status is TicketStatus.RETURNED:
        # A department sent it back as not theirs: no blame, only what happens now.
        lines = [f"您的诉求（工单{number}）正在重新安排更合适的承办部门，请您耐心等待。"]
        note = ""
    elif status is TicketStatus.IN_PROGRESS:
        lines = [f"您的诉求（工单{number}）正在办理中"
                 + (f"，承办部门：{department}。" if department else "。")]
    elif status is TicketStatus.FINISHED:
        lines = [f"您的诉求（工单{number}）已办结"
                 + (f"，承办部门：{department}。" if department else "。")]
        if note:
            lines.append(f"答复：{note}")
            note = ""
    elif status is TicketStatus.FOLLOWED_UP:
        lines = [f"工作人员已就您的诉求（工单{number}）进行了回访。"]
    elif status is TicketStatus.CLOSED:
        lines = [f"您的诉求（工单{number}）已关闭，感谢您的反映。"]
    elif status is TicketStatus.REOPENED:
        lines = [f"您的诉求（工单{number}）已重新交办，承办部门会再次处理并答复您。"]
    else:
        lines = [f"您的诉求（工单{number}）已撤回。如有需要，可以随时重新反映。"]
    if change.adopted is not None:
        lines.append("您的建议已被采纳。" if change.adopted else "您的建议暂未被采纳。")
    if note:
        lines.append(f"说明：{note}")
    return "\n".join(lines)


class TicketProgressHandler:
    """A status change fed in by the ticket desk; everything returned is pushed."""

    name = "ticket_progress"

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def matches(self, turn: Turn) -> bool:
        message = turn.message
        return message.kind is InboundKind.EVENT and message.event is EventKind.TICKET

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        change = turn.message.status_change
        if change is None:
            return []
        if is_own_change(turn.state, change.ticket_id, change.status):
            return []
        text = progress_text(change)
        if change.status is not TicketStatus.FINISHED or await self._rated(turn, change):
            return [replace(OutboundMessage.of_text(text), ticket_update=change)]
        # The flow the resident may be in keeps its state and options: only
        # ``rating_due`` is added, and the request has no buttons then.
        asked = ask_rating(turn.state, change.ticket_id, prefix=f"{text}\n")
        return [replace(asked, ticket_update=change)]

    async def _rated(self, turn: Turn, change: StatusChange) -> bool:
        """One rating per matter: a ticket finished again after 重办 is not asked twice."""
        for record in await self._tickets.mine(turn.message.key, limit=20):
            if record.ticket_id == change.ticket_id:
                return record.rating is not None
        return False
