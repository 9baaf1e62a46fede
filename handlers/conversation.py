"""Greetings, small talk, help, and the catch-all that offers help."""

from __future__ import annotations

from collections.abc import Sequence

from bot.handling import Turn
from bot.types import EventKind, InboundKind, OutboundMessage
from handlers.texts import HOTLINE, help_message, offer_human

__all__ = ["HUMAN_MENU_PAYLOAD", "FallbackHandler", "HumanHandler", "SmallTalkHandler",
           "WelcomeHandler"]

HUMAN_MENU_PAYLOAD = "MENU_HUMAN"

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
    name = "human"

    def matches(self, turn: Turn) -> bool:
        return turn.payload == HUMAN_MENU_PAYLOAD or turn.intent_is("human")

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        turn.state.unclear_turns = 0
        return [
            OutboundMessage.of_text(
                f"本渠道的人工坐席暂未接入。需要工作人员帮助，请拨打{HOTLINE}热线。"
            )
        ]


class FallbackHandler:
    """Anything no other handler took: say so kindly and show what works."""

    name = "fallback"

    def matches(self, turn: Turn) -> bool:
        return True

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        if turn.intent_is("out_of_scope"):
            turn.state.unclear_turns = 0
            return [help_message("这个问题我帮不上忙，我主要负责受理社区和政务方面的诉求。")]
        turn.state.unclear_turns += 1
        if turn.state.unclear_turns >= 2:
            return [offer_human("抱歉，我还是没能理解您的意思。")]
        return [help_message("抱歉，我没有完全明白您的意思。")]
