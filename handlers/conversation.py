"""Greetings, small talk, help, and the catch-all that offers help."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.types import EventKind, HandoffReason, InboundKind, OutboundMessage
from handlers.escalation import Escalator
from handlers.parsing import normalise
from handlers.texts import HOTLINE, help_message, offer_human

__all__ = ["HUMAN_MENU_PAYLOAD", "FallbackHandler", "HumanHandler", "SmallTalkHandler",
           "WelcomeHandler", "unclear_again"]

HUMAN_MENU_PAYLOAD = "MENU_HUMAN"
_ASKING_FOR_A_PERSON = frozenset({
    "转人工", "人工", "人工服务", "人工客服", "转人工服务", "找人工", "要人工", "我要人工",
    "我要转人工", "转接人工",
})

WELCOME = "您好，这里是民呼服务平台。社区大小事，都可以在这里反映、咨询和提建议。"

_SMALL_TALK_REPLIES = {
    "thank": "不客气，有需要随时找我。",
    "goodbye": "好的，再见！有事随时留言。",
    "affirm": "好的。",
    "deny": "好的，已了解。",
}


class WelcomeHandler:
    """A new follower, a scan of our QR code, or a greeting."""

    name = "welcome"

    def matches(self, turn: Turn) -> bool:
        message = turn.message
        if message.kind is InboundKind.EVENT:
            return message.event in (EventKind.SUBSCRIBE, EventKind.SCAN)
        return turn.intent_is("greet")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        return [help_message(WELCOME)]


class SmallTalkHandler:
    name = "small_talk"

    def matches(self, turn: Turn) -> bool:
        return turn.intent is not None and turn.intent.name in _SMALL_TALK_REPLIES

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        assert turn.intent is not None
        turn.state.unclear_turns = 0
        return [OutboundMessage.of_text(_SMALL_TALK_REPLIES[turn.intent.name])]


class HumanHandler:
    """The 转人工 menu item or button, or asking for a person in words."""

    name = "human"

    def __init__(self, escalator: Escalator | None = None) -> None:
        self._escalator = escalator

    def matches(self, turn: Turn) -> bool:
        if turn.payload == HUMAN_MENU_PAYLOAD or turn.intent_is("human"):
            return True
        # While a question is pending NLU is skipped: the few plain ways of
        # asking for a person still work then (they answer no question).
        return (
            self._escalator is not None
            and turn.state.awaiting is not None
            and turn.payload is None
            and turn.is_text
            and normalise(turn.text) in _ASKING_FOR_A_PERSON
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        if self._escalator is None:
            return [OutboundMessage.of_text(
                f"本渠道暂未接入人工坐席。需要工作人员帮助，请拨打{HOTLINE}热线。"
            )]
        notice = await self._escalator.hand_over(
            turn, reason=HandoffReason.ASKED,
            summary="" if turn.payload is None else "居民点击“转人工”",
        )
        return [OutboundMessage.of_text(notice)]


class FallbackHandler:
    """Anything no other handler took: say so kindly and show what works; the
    second unclear turn in a row hands the conversation to staff."""

    name = "fallback"

    def __init__(self, escalator: Escalator | None = None) -> None:
        self._escalator = escalator

    def matches(self, turn: Turn) -> bool:
        return True

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        if turn.intent_is("out_of_scope"):
            turn.state.unclear_turns = 0
            return [help_message("这个问题我帮不上忙，我主要负责受理社区和政务方面的诉求。")]
        turn.state.unclear_turns += 1
        if turn.state.unclear_turns >= 2:
            return await unclear_again(turn, self._escalator, "抱歉，我还是没能理解您的意思。")
        return [help_message("抱歉，我没有完全明白您的意思。")]


async def unclear_again(
    turn: Turn, escalator: Escalator | None, apology: str
) -> list[OutboundMessage]:
    """Two unclear turns in a row: a person takes over (or is offered, when
    the channel has no staff handoff)."""
    if escalator is None:
        return [offer_human(apology)]
    notice = await escalator.hand_over(turn, reason=HandoffReason.UNCLEAR)
    return [OutboundMessage.of_text(f"{apology}已为您转接人工服务。\n{notice}")]
