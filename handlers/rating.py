"""好差评: one rating per matter, five levels; a bad one is followed up by staff."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from bot.errors import (
    BackendRejected,
    BackendUnavailable,
    MinhuError,
    TicketNotFound,
    UnsupportedByBackend,
)
from bot.handling import Turn
from bot.ports import StaffAlerts, Tickets
from bot.state import ConversationState
from bot.types import (
    RATING_LEVELS,
    REOPEN_AT_OR_BELOW,
    Button,
    HandoffReason,
    OutboundMessage,
    TicketStatus,
    rating_label,
)
from handlers.escalation import Escalator
from handlers.ids import action_id
from handlers.parsing import find_ticket_id, normalise
from handlers.texts import BACKEND_BUSY, HOTLINE, TICKET_NOT_FOUND
from handlers.tickets import expect_own_change, rejection_reason

__all__ = ["RATE_ASK_PREFIX", "RATE_PREFIX", "RATING_DUE", "RatingHandler", "ask_rating"]

log = logging.getLogger("minhu.handlers.rating")

RATE_PREFIX = "RATE:"
RATE_ASK_PREFIX = "RATE_ASK:"
# The ticket whose rating was last asked for, so a typed level can be applied.
RATING_DUE = "rating_due"
_RATE_PAYLOAD = re.compile(r"RATE:(?P<ticket>[A-Za-z0-9_-]{1,64}):(?P<score>[1-5])")


def rating_buttons(ticket_id: str) -> tuple[Button, ...]:
    """The five levels, best first, as ``RATE:<ticket>:<score>`` (score 5…1)."""
    return tuple(
        Button(label, f"{RATE_PREFIX}{ticket_id}:{5 - index}")
        for index, label in enumerate(RATING_LEVELS)
    )


def ask_rating(state: ConversationState, ticket_id: str, *, prefix: str = "") -> OutboundMessage:
    """Ask for a rating of ``ticket_id``. While a flow is pending the request has
    no buttons, so that a numbered answer keeps meaning the flow's options."""
    state.context[RATING_DUE] = ticket_id
    if state.flow is not None:
        return OutboundMessage.of_text(
            f"{prefix}请您对办理结果进行评价：直接回复“非常满意”“满意”“基本满意”"
            "“不满意”或“非常不满意”即可。"
        )
    return OutboundMessage.with_buttons(
        f"{prefix}请您对办理结果进行评价：", rating_buttons(ticket_id)
    )


def _level(text: str) -> int | None:
    answer = re.sub(r"[\s，,。.！!～~]", "", normalise(text))
    if answer in RATING_LEVELS:
        return 5 - RATING_LEVELS.index(answer)
    return None


class RatingHandler:
    name = "rating"

    def __init__(
        self, tickets: Tickets, alerts: StaffAlerts, escalator: Escalator | None = None
    ) -> None:
        self._tickets = tickets
        self._alerts = alerts
        self._escalator = escalator

    def matches(self, turn: Turn) -> bool:
        payload = turn.payload
        if payload is not None:
            return payload.startswith((RATE_PREFIX, RATE_ASK_PREFIX)) or turn.intent_is("rate")
        if turn.intent_is("rate"):
            return True
        state = turn.state
        if not turn.is_text or not state.context.get(RATING_DUE):
            return False
        if _level(turn.text) is not None:
            return True
        return state.flow is None and normalise(turn.text) in ("1", "2", "3", "4", "5")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        state = turn.state
        state.unclear_turns = 0
        payload = turn.payload or ""
        if payload.startswith(RATE_ASK_PREFIX):
            return [ask_rating(state, payload.removeprefix(RATE_ASK_PREFIX))]
        if payload.startswith(RATE_PREFIX):
            match = _RATE_PAYLOAD.fullmatch(payload)
            if match is None:
                return [OutboundMessage.of_text("这个评价选项无效，请重新选择。")]
            return [await self._rate(turn, match.group("ticket"), int(match.group("score")))]
        due = state.context.get(RATING_DUE)
        if not turn.intent_is("rate") and isinstance(due, str):
            score = _level(turn.text)
            if score is None:
                # A digit answers the numbered list of levels, best first.
                score = 6 - int(normalise(turn.text))
            return [await self._rate(turn, due, score)]
        return [await self._ask(turn)]

    async def _ask(self, turn: Turn) -> OutboundMessage:
        """"我要评价": the ticket named, else the newest finished one not yet rated."""
        named = (turn.intent.entity("ticket_id") if turn.intent else None) or find_ticket_id(
            turn.text
        )
        if named:
            return ask_rating(turn.state, named.upper())
        rated_already = False
        rated_badly: str | None = None
        score = _level(turn.text)
        for record in await self._tickets.mine(turn.message.key):
            if not record.ticket_id or record.status is None or not record.status.is_finished:
                continue
            if record.rating is not None:
                if not rated_already and _bad(record.rating):
                    rated_badly = record.ticket_id  # the newest rated matter only
                rated_already = True
                continue
            if score is not None:
                # "非常满意" on its own: the level for the newest finished ticket.
                return await self._rate(turn, record.ticket_id, score)
            return ask_rating(turn.state, record.ticket_id, prefix=f"工单{record.ticket_id}：")
        if rated_badly is not None and score is not None and _bad(score):
            handed = await self._bad_again(turn, rated_badly, score)
            if handed is not None:
                return handed
        if rated_already:
            return OutboundMessage.of_text(
                "每件诉求只能评价一次，您办结的诉求都已评价过，感谢您的反馈。"
            )
        return OutboundMessage.of_text("您目前没有待评价的诉求，诉求办结后会请您评价。")

    async def _rate(self, turn: Turn, ticket_id: str, score: int) -> OutboundMessage:
        key = turn.message.key
        context = turn.state.context
        try:
            result = await self._tickets.rate(
                key, ticket_id, score=score, comment=None,
                submission_id=action_id(turn, "rate"),
            )
        except BackendUnavailable:
            return OutboundMessage.of_text(BACKEND_BUSY)
        except TicketNotFound:
            _clear_due(context, ticket_id)
            return OutboundMessage.of_text(TICKET_NOT_FOUND)
        except UnsupportedByBackend:
            _clear_due(context, ticket_id)
            return OutboundMessage.of_text(
                f"当前工单系统不支持在线评价，请拨打{HOTLINE}热线，报上工单编号{ticket_id}进行评价。"
            )
        except BackendRejected as exc:
            return OutboundMessage.of_text(f"这件诉求暂时不能评价{rejection_reason(exc)}。")
        _clear_due(context, ticket_id)
        if result.reopened:
            expect_own_change(turn.state, ticket_id, TicketStatus.REOPENED)
        if result.already_rated:
            if _bad(score) and await self._rated_badly(turn, ticket_id):
                handed = await self._bad_again(turn, ticket_id, score)
                if handed is not None:
                    return handed
            return OutboundMessage.of_text("每件诉求只能评价一次，您已评价过。")
        if not result.accepted:
            return OutboundMessage.of_text("评价没有成功，请稍后再试。")
        label = rating_label(score)
        if score > REOPEN_AT_OR_BELOW:
            return OutboundMessage.of_text(f"感谢您的评价（{label}）！有需要随时找我们。")
        await self._alert(turn, ticket_id, label, reopened=result.reopened)
        if result.reopened:
            return OutboundMessage.of_text(
                f"非常抱歉没能让您满意。您的诉求（工单{ticket_id}）将重新办理（重办），"
                "工作人员会尽快与您联系跟进。"
            )
        return OutboundMessage.of_text(
            f"非常抱歉没能让您满意（{label}）。工作人员会尽快与您联系，了解情况并改进。"
        )

    async def _rated_badly(self, turn: Turn, ticket_id: str) -> bool:
        for record in await self._tickets.mine(turn.message.key, limit=20):
            if record.ticket_id == ticket_id:
                return record.rating is not None and _bad(record.rating)
        return False

    async def _bad_again(self, turn: Turn, ticket_id: str, score: int) -> OutboundMessage | None:
        """A second bad rating of the same matter (one already rated bad and
        reopened): one rating per matter stands, but a person takes over."""
        if self._escalator is None:
            return None
        notice = await self._escalator.hand_over(
            turn, reason=HandoffReason.BAD_RATING,
            summary=f"工单{ticket_id}重办后居民再次评价“{rating_label(score)}”",
            file_after_hours=False,
        )
        return OutboundMessage.of_text(
            f"非常抱歉，您的诉求（工单{ticket_id}）重新办理后仍没能让您满意，"
            f"我们请工作人员直接和您沟通。\n{notice}"
        )

    async def _alert(self, turn: Turn, ticket_id: str, label: str, *, reopened: bool) -> None:
        """Every bad rating gets a call back (domain.md §1); the rating itself is
        already recorded, so a failed alert is logged rather than undoing the turn."""
        reopen_note = "，已转重办" if reopened else ""
        text = f"工单{ticket_id}被评价为“{label}”{reopen_note}，请回访。"
        try:
            await self._alerts.alert(
                kind="bad_rating", key=turn.message.key, text=text, ticket_id=ticket_id
            )
        except MinhuError:
            log.exception("could not alert staff to a bad rating",
                          extra={"conversation": turn.message.key.as_str()})


def _bad(score: int) -> bool:
    return score <= REOPEN_AT_OR_BELOW


def _clear_due(context: dict[str, object], ticket_id: str) -> None:
    if context.get(RATING_DUE) == ticket_id:
        context.pop(RATING_DUE, None)
