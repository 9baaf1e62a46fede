"""我的诉求: the resident's requests, and one of them in detail with its timeline."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn, intent_button
from bot.ports import TicketRecord, Tickets
from bot.types import Button, OutboundMessage, Ticket, rating_label
from handlers.formatting import local_time, mask_phone, type_label
from handlers.rating import RATE_ASK_PREFIX
from handlers.supplement import SUPPLEMENT_PREFIX
from handlers.texts import TICKET_NOT_FOUND
from handlers.tickets import named_ticket, record_status, snippet
from handlers.withdraw import WITHDRAW_PREFIX

__all__ = ["MY_TICKETS_MENU_PAYLOAD", "TICKET_PREFIX", "MyTicketsHandler"]

MY_TICKETS_MENU_PAYLOAD = "MENU_MY_TICKETS"
TICKET_PREFIX = "TICKET:"
_LISTED = 10
# The latest steps only, so that the details still fit one message.
_TIMELINE_STEPS = 8


class MyTicketsHandler:
    name = "my_tickets"

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def matches(self, turn: Turn) -> bool:
        payload = turn.payload or ""
        return (
            payload == MY_TICKETS_MENU_PAYLOAD
            or payload.startswith(TICKET_PREFIX)
            or turn.intent_is("query_status")
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        ticket_id = named_ticket(turn, TICKET_PREFIX)
        if ticket_id:
            ticket = await self._tickets.lookup(turn.message.key, ticket_id)
            if ticket is None:
                return [OutboundMessage.of_text(TICKET_NOT_FOUND)]
            return [_details(ticket)]
        records = await self._tickets.mine(turn.message.key, limit=_LISTED)
        if not records:
            return [OutboundMessage.of_text("您在本平台还没有已登记的诉求。")]
        return [_listing(records)]


def _listing(records: list[TicketRecord]) -> OutboundMessage:
    lines = ["您最近的诉求（最新的在前）："]
    for index, record in enumerate(records, start=1):
        number = record.ticket_id or "编号待发"
        when = local_time(record.status_at or record.created_at)
        lines.append(
            f"{index}. {number} {type_label(record.draft.request_type)}："
            f"{snippet(record.draft.description)}\n   {record_status(record)} · {when}"
        )
    buttons = tuple(
        Button(r.ticket_id, f"{TICKET_PREFIX}{r.ticket_id}") for r in records if r.ticket_id
    )
    if not buttons:
        return OutboundMessage.of_text("\n".join(lines))
    lines.append("点工单编号可以查看详情和办理进展。")
    return OutboundMessage.with_buttons("\n".join(lines), buttons)


def _details(ticket: Ticket) -> OutboundMessage:
    draft = ticket.draft
    kind = type_label(draft.request_type)
    if draft.category and draft.category != "其他":
        kind += f"（{draft.category}）"
    lines = [f"工单编号：{ticket.ticket_id}", f"类型：{kind}", f"状态：{ticket.status.value}"]
    if ticket.department:
        lines.append(f"承办部门：{ticket.department}")
    lines.append(f"内容：{snippet(draft.description, 100)}")
    place = draft.address or (draft.location.label if draft.location else None)
    if place:
        lines.append(f"地点：{place}")
    if draft.phone:
        lines.append(f"联系电话：{mask_phone(draft.phone)}")
    lines.append(f"提交时间：{local_time(ticket.created_at)}")
    if ticket.due_at is not None and not ticket.status.is_finished:
        lines.append(f"预计答复：{local_time(ticket.due_at)}前")
    if ticket.status_note:
        lines.append(f"最新答复：{ticket.status_note}")
    if ticket.adopted is not None:
        lines.append("建议采纳情况：" + ("已采纳" if ticket.adopted else "暂未采纳"))
    if ticket.rating is not None:
        lines.append(f"您的评价：{rating_label(ticket.rating)}")
    if ticket.history:
        lines.append("办理进展：")
        for change in ticket.history[-_TIMELINE_STEPS:]:
            step = f"· {local_time(change.at)} {change.status.value}"
            if change.department:
                step += f"（{change.department}）"
            if change.note:
                step += f"：{change.note}"
            lines.append(step)
    buttons: list[Button] = []
    if ticket.status.is_open and not ticket.status.is_finished:
        buttons.append(Button("补充材料", f"{SUPPLEMENT_PREFIX}{ticket.ticket_id}"))
        buttons.append(Button("撤回诉求", f"{WITHDRAW_PREFIX}{ticket.ticket_id}"))
    if ticket.status.is_finished and ticket.rating is None:
        buttons.append(Button("评价", f"{RATE_ASK_PREFIX}{ticket.ticket_id}"))
    buttons.append(intent_button("我的诉求", "query_status"))
    return OutboundMessage.with_buttons("\n".join(lines), tuple(buttons))
