"""Shared by the handlers that act on an existing ticket: which one, and why not."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import BackendRejected
from bot.handling import Turn
from bot.ports import SubmissionState, TicketRecord, Tickets
from bot.state import ConversationState
from bot.types import Button, OutboundMessage, TicketStatus
from handlers.formatting import type_label
from handlers.parsing import find_ticket_id
from handlers.texts import TICKET_NOT_FOUND

__all__ = [
    "OWN_CHANGES",
    "Pick",
    "choice_buttons",
    "expect_own_change",
    "in_progress",
    "is_own_change",
    "named_ticket",
    "pick_ticket",
    "record_status",
    "rejection_reason",
    "snippet",
    "tickets_in_progress",
]

_CJK = re.compile(r"[\u4e00-\u9fff]")

# Status changes the resident caused themselves (a withdrawal, a bad rating
# that reopened the ticket): their webhook must not be pushed back as news.
# Kept on the conversation, so the progress turn, which runs after the turn
# that caused it, sees it (turns of one conversation are serialised).
OWN_CHANGES = "own_changes"


def expect_own_change(state: ConversationState, ticket_id: str, status: TicketStatus) -> None:
    expected = dict(state.context.get(OWN_CHANGES) or {})
    expected[ticket_id] = status.value
    state.context[OWN_CHANGES] = expected


def is_own_change(state: ConversationState, ticket_id: str, status: TicketStatus) -> bool:
    """True (once) when the resident caused this change."""
    expected = dict(state.context.get(OWN_CHANGES) or {})
    if expected.get(ticket_id) != status.value:
        return False
    del expected[ticket_id]
    if expected:
        state.context[OWN_CHANGES] = expected
    else:
        state.context.pop(OWN_CHANGES, None)
    return True


def rejection_reason(exc: BackendRejected) -> str:
    """"：<why>" when the backend said why in words a resident can read, else ""."""
    message = str(exc).strip()
    return f"：{message}" if message and _CJK.search(message) else ""


def snippet(text: str, length: int = 12) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= length else flat[:length] + "…"


def named_ticket(turn: Turn, payload_prefix: str) -> str | None:
    """A ticket number from the pressed button, NLU, or the text itself."""
    payload = turn.payload or ""
    if payload.startswith(payload_prefix):
        return payload.removeprefix(payload_prefix) or None
    entity = turn.intent.entity("ticket_id") if turn.intent else None
    return (entity or find_ticket_id(turn.text) or "").upper() or None


def record_status(record: TicketRecord) -> str:
    if record.state is SubmissionState.REJECTED:
        return "未能自动登记，已转人工处理"
    if record.ticket_id is None:
        return "登记中"
    return (record.status or TicketStatus.ACCEPTED).value


def in_progress(record: TicketRecord) -> bool:
    """Filed and still being worked on: it can be supplemented or withdrawn."""
    if record.ticket_id is None:
        return False
    status = record.status or TicketStatus.ACCEPTED
    return status.is_open and not status.is_finished


async def tickets_in_progress(tickets: Tickets, turn: Turn) -> list[TicketRecord]:
    return [r for r in await tickets.mine(turn.message.key) if in_progress(r)]


def choice_buttons(records: list[TicketRecord], payload_prefix: str) -> tuple[Button, ...]:
    return tuple(
        Button(
            f"{r.ticket_id} {type_label(r.draft.request_type)}：{snippet(r.draft.description, 8)}",
            f"{payload_prefix}{r.ticket_id}",
        )
        for r in records
        if r.ticket_id
    )


@dataclass(frozen=True, slots=True)
class Pick:
    """Which ticket an act is about: ``record``, or else ``reply`` to send
    (``choosing`` when the reply asks the resident to pick one)."""

    record: TicketRecord | None = None
    reply: OutboundMessage | None = None
    choosing: bool = False


async def pick_ticket(tickets: Tickets, turn: Turn, payload_prefix: str, act: str) -> Pick:
    """The ticket named (button, NLU entity or text), else the only one in
    progress, else a question listing those in progress. ``act`` names what
    will be done to it ("补充", "撤回")."""
    named = named_ticket(turn, payload_prefix)
    records = await tickets.mine(turn.message.key, limit=20)
    if named:
        record = next((r for r in records if r.ticket_id == named), None)
        if record is None:
            return Pick(reply=OutboundMessage.of_text(TICKET_NOT_FOUND))
        if not in_progress(record):
            return Pick(reply=OutboundMessage.of_text(
                f"工单{named}目前{record_status(record)}，不能再{act}。"
            ))
        return Pick(record=record)
    candidates = [r for r in records if in_progress(r)]
    if not candidates:
        return Pick(reply=OutboundMessage.of_text(f"您目前没有正在办理、可以{act}的诉求。"))
    if len(candidates) == 1:
        return Pick(record=candidates[0])
    return Pick(
        reply=OutboundMessage.with_buttons(
            f"您有{len(candidates)}件诉求正在办理，请问要{act}哪一件？",
            choice_buttons(candidates[:10], payload_prefix),
        ),
        choosing=True,
    )
