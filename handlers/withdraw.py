"""撤回: the resident takes back a request that is still being handled."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.errors import BackendRejected, BackendUnavailable, TicketNotFound, UnsupportedByBackend
from bot.handling import Turn
from bot.ports import TicketRecord, Tickets
from bot.types import Button, OutboundMessage, TicketStatus
from handlers.formatting import type_label
from handlers.ids import action_id
from handlers.parsing import normalise
from handlers.texts import BACKEND_BUSY, HOTLINE, TICKET_NOT_FOUND
from handlers.tickets import expect_own_change, pick_ticket, rejection_reason, snippet

__all__ = [
    "KEPT",
    "WITHDRAW_CONFIRM",
    "WITHDRAW_FLOW",
    "WITHDRAW_KEEP",
    "WITHDRAW_PREFIX",
    "WithdrawHandler",
]

WITHDRAW_FLOW = "withdraw"
WITHDRAW_PREFIX = "WITHDRAW:"
WITHDRAW_CONFIRM = "WITHDRAW_CONFIRM:"
WITHDRAW_KEEP = "WITHDRAW_KEEP"
KEPT = "好的，不撤回，您的诉求会继续办理。"
_CHOOSING = "ticket"
_CONFIRMING = "confirm"
_YES = frozenset({"确认", "确认撤回", "撤回", "是", "是的", "对", "好", "好的", "确定", "可以"})
_NO = frozenset({"不撤回", "不", "否", "不要", "不用", "不了", "继续办理", "不撤了"})


class WithdrawHandler:
    name = "withdraw"

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def matches(self, turn: Turn) -> bool:
        payload = turn.payload
        if payload is not None:
            return (
                payload.startswith((WITHDRAW_PREFIX, WITHDRAW_CONFIRM))
                or payload == WITHDRAW_KEEP
                or turn.intent_is("withdraw")
            )
        if turn.intent_is("withdraw"):
            return True
        state = turn.state
        return state.flow == WITHDRAW_FLOW and state.awaiting is not None and turn.is_text

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        payload = turn.payload or ""
        if payload == WITHDRAW_KEEP:
            state.end_flow()
            return [OutboundMessage.of_text(KEPT)]
        if payload.startswith(WITHDRAW_CONFIRM):
            return [await self._withdraw(turn, payload.removeprefix(WITHDRAW_CONFIRM))]
        if state.flow == WITHDRAW_FLOW and state.awaiting == _CONFIRMING and not payload:
            answer = re.sub(r"[\s，,。.！!]", "", normalise(turn.text))
            ticket_id = str(state.slots.get("ticket_id") or "")
            if answer in _YES and ticket_id:
                return [await self._withdraw(turn, ticket_id)]
            if answer in _NO:
                state.end_flow()
                return [OutboundMessage.of_text(KEPT)]
            return [_confirmation(ticket_id, None, "请选择是否撤回。")]
        pick = await pick_ticket(self._tickets, turn, WITHDRAW_PREFIX, "撤回")
        if pick.record is None or pick.record.ticket_id is None:
            if pick.choosing:
                state.start_flow(WITHDRAW_FLOW, awaiting=_CHOOSING)
            elif state.flow == WITHDRAW_FLOW:
                state.end_flow()
            assert pick.reply is not None
            return [pick.reply]
        state.start_flow(WITHDRAW_FLOW, awaiting=_CONFIRMING)
        state.slots["ticket_id"] = pick.record.ticket_id
        return [_confirmation(pick.record.ticket_id, pick.record)]

    async def _withdraw(self, turn: Turn, ticket_id: str) -> OutboundMessage:
        turn.state.end_flow()
        try:
            await self._tickets.withdraw(
                turn.message.key, ticket_id, submission_id=action_id(turn, "withdraw")
            )
        except UnsupportedByBackend:
            return OutboundMessage.of_text(
                f"抱歉，当前工单系统不支持在线撤回。请拨打{HOTLINE}热线，报上工单编号{ticket_id}办理。"
            )
        except TicketNotFound:
            return OutboundMessage.of_text(TICKET_NOT_FOUND)
        except BackendRejected as exc:
            return OutboundMessage.of_text(f"这件诉求没能撤回{rejection_reason(exc)}。")
        except BackendUnavailable:
            return OutboundMessage.of_text(BACKEND_BUSY)
        expect_own_change(turn.state, ticket_id, TicketStatus.WITHDRAWN)
        return OutboundMessage.of_text(f"已撤回工单{ticket_id}。如有需要，可以随时重新反映。")


def _confirmation(ticket_id: str, record: TicketRecord | None, prefix: str = "") -> OutboundMessage:
    about = ""
    if record is not None:
        about = f"（{type_label(record.draft.request_type)}：{snippet(record.draft.description)}）"
    return OutboundMessage.with_buttons(
        f"{prefix}确定要撤回工单{ticket_id}{about}吗？撤回后承办部门将停止办理。",
        (Button("确认撤回", f"{WITHDRAW_CONFIRM}{ticket_id}"), Button("不撤回", WITHDRAW_KEEP)),
    )
