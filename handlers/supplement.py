"""补充: adding words or photos to a ticket that is being handled."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.errors import BackendRejected, BackendUnavailable, TicketNotFound, UnsupportedByBackend
from bot.handling import Turn, intent_button
from bot.ports import Tickets
from bot.types import Button, InboundKind, OutboundMessage
from handlers.ids import action_id
from handlers.intake.answers import is_description
from handlers.intake.form import MAX_PHOTOS, photo_ref
from handlers.parsing import tidy
from handlers.texts import BACKEND_BUSY, HOTLINE, TICKET_NOT_FOUND
from handlers.tickets import pick_ticket, rejection_reason

__all__ = ["SUPPLEMENT_FLOW", "SUPPLEMENT_PREFIX", "SUPPLEMENT_SEND", "SupplementHandler"]

SUPPLEMENT_FLOW = "supplement"
SUPPLEMENT_PREFIX = "SUPPLEMENT:"
SUPPLEMENT_SEND = "SUPPLEMENT_SEND"
_CHOOSING = "ticket"
_CONTENT = "content"
# "补充一下：…" — the words that announce a supplement rather than being one.
_ANNOUNCEMENT = re.compile(
    r"^(?:我|我要|我想|想|再|还要)?(?:补充|追加|还有一点|忘了说)"
    r"(?:一下|一点|材料|说明|内容|情况|个)*[：:，,\s]*"
)
_TICKET_ID = re.compile(r"[Mm][Hh]\d{12}")


def _content_of(text: str) -> str | None:
    """What the resident already wrote to add, if the message carries it."""
    rest = _TICKET_ID.sub("", _ANNOUNCEMENT.sub("", tidy(text))).strip(" ，,：:")
    return rest if is_description(rest) else None


class SupplementHandler:
    name = "supplement"

    def __init__(self, tickets: Tickets) -> None:
        self._tickets = tickets

    def matches(self, turn: Turn) -> bool:
        payload = turn.payload
        if payload is not None:
            return payload.startswith(SUPPLEMENT_PREFIX) or payload == SUPPLEMENT_SEND or (
                turn.intent_is("supplement")
            )
        if turn.intent_is("supplement"):
            return True
        state = turn.state
        return (
            state.flow == SUPPLEMENT_FLOW
            and state.awaiting is not None
            and (turn.is_text or turn.message.kind is InboundKind.IMAGE)
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        in_flow = state.flow == SUPPLEMENT_FLOW
        if turn.payload == SUPPLEMENT_SEND:
            if not in_flow or not state.slots.get("ticket_id"):
                return [OutboundMessage.of_text("这次补充已经结束了。")]
            return [await self._send(turn, "（补充照片）")]
        if in_flow and state.awaiting == _CONTENT and not (turn.payload or "").startswith(
            SUPPLEMENT_PREFIX
        ):
            return [await self._content(turn)]
        # Starting, or answering "which ticket?".
        pending = str(state.slots.get("text") or "") if in_flow else ""
        content = pending or (_content_of(turn.text) if turn.intent_is("supplement") else None)
        pick = await pick_ticket(self._tickets, turn, SUPPLEMENT_PREFIX, "补充")
        if pick.record is None or pick.record.ticket_id is None:
            if pick.choosing:
                state.start_flow(SUPPLEMENT_FLOW, awaiting=_CHOOSING)
                state.slots["text"] = content or ""
            elif in_flow:
                state.end_flow()
            assert pick.reply is not None
            return [pick.reply]
        ticket_id = pick.record.ticket_id
        state.start_flow(SUPPLEMENT_FLOW, awaiting=_CONTENT)
        state.slots.update({"ticket_id": ticket_id, "photos": []})
        if content:
            return [await self._send(turn, content)]
        return [OutboundMessage.of_text(
            f"请发送要补充到工单{ticket_id}的内容，文字或照片都可以（回复“取消”可退出）。"
        )]

    async def _content(self, turn: Turn) -> OutboundMessage:
        state = turn.state
        if turn.message.kind is InboundKind.IMAGE:
            photos = [str(p) for p in state.slots.get("photos") or []]
            ref = photo_ref(turn.message)
            if ref is not None and len(photos) < MAX_PHOTOS:
                photos.append(ref)
            state.slots["photos"] = photos
            return OutboundMessage.with_buttons(
                f"照片已收到（共{len(photos)}张）。可以再用文字说明，或点“提交补充”。",
                (Button("提交补充", SUPPLEMENT_SEND), intent_button("取消", "cancel")),
            )
        return await self._send(turn, tidy(turn.text))

    async def _send(self, turn: Turn, text: str) -> OutboundMessage:
        state = turn.state
        ticket_id = str(state.slots["ticket_id"])
        photos = [str(p) for p in state.slots.get("photos") or []]
        state.end_flow()
        try:
            await self._tickets.supplement(
                turn.message.key, ticket_id, text=text, photos=photos,
                submission_id=action_id(turn, "supplement"),
            )
        except UnsupportedByBackend:
            return OutboundMessage.of_text(
                f"抱歉，当前工单系统不支持在线补充材料。请拨打{HOTLINE}热线，"
                f"报上工单编号{ticket_id}补充说明。"
            )
        except TicketNotFound:
            return OutboundMessage.of_text(TICKET_NOT_FOUND)
        except BackendRejected as exc:
            return OutboundMessage.of_text(f"这次补充没有成功{rejection_reason(exc)}。")
        except BackendUnavailable:
            return OutboundMessage.of_text(BACKEND_BUSY)
        extra = f"和{len(photos)}张照片" if photos else ""
        return OutboundMessage.of_text(
            f"已把补充内容{extra}交给承办部门（工单{ticket_id}），办理进展会在这里通知您。"
        )
