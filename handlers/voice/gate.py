"""Confirming what was heard before a voice note counts as said.

A transcript (ours, or WeChat's ``Recognition``) is normalised
(:mod:`handlers.voice.normalise`) and echoed: "您说的是：“…” 对吗？" with
two buttons. Only after "对" is it handled, by the handlers after this one,
exactly as if the resident had typed it (with NLU when no question is
pending, and a button title or number still picking that button). A
correction may be spoken (a new voice note is echoed again) or typed (typed
words need no echo and are handled at once). In the rider flow the echo is
the rider's one confirmation (:mod:`handlers.voice.rider`).

Voice notes that could not be transcribed get a clear reply that says why
(too long, too large, corrupt, silence, a busy pool, no engine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.handling import INTENT_PAYLOAD_PREFIX, Handler, Turn, chosen_payload
from bot.ports import Understanding
from bot.types import Button, InboundKind, Intent, OutboundMessage
from bot.voice import AsrStatus
from handlers.parsing import normalise
from handlers.texts import HOTLINE
from handlers.voice.normalise import normalise_transcript
from handlers.voice.rider import RiderFlow

__all__ = ["VOICE_NO", "VOICE_YES", "VoiceGate", "failure_reply"]

VOICE_YES = "VOICE:yes"
VOICE_NO = "VOICE:no"
PENDING = "voice_pending"
# The dispatcher keeps the last buttons here (bot.dispatcher.CHOICES_CONTEXT_KEY).
_CHOICES = "choices"
# An echo not answered for this long is forgotten.
PENDING_LIFETIME = timedelta(minutes=30)
_LONGEST_ECHO = 500

_YES_WORDS = frozenset({"对", "对的", "对了", "是", "是的", "没错", "正确", "嗯", "嗯嗯", "好",
                        "好的", "确认", "对没错", "是的没错", "就是这样", "对就是这样"})
_NO_WORDS = frozenset({"不对", "不是", "错了", "不正确", "说错了", "识别错了", "重说",
                       "不对重说", "重新说", "不对不对"})

_FAILURES: dict[str, str] = {
    AsrStatus.TOO_LONG:
        "这段语音超过60秒了，没法识别。请分成几段60秒以内的短语音，或者改用文字。",
    AsrStatus.TOO_LARGE:
        "这段语音文件太大了，没法识别。请说得简短一些（60秒以内），或者改用文字。",
    AsrStatus.UNREADABLE:
        "抱歉，这段语音打不开（文件可能损坏或格式不支持）。请重新录一段，或者改用文字。",
    AsrStatus.SILENT: "抱歉，这段语音里没有听到说话声。请靠近话筒再说一遍，或者改用文字。",
    AsrStatus.BUSY:
        "现在发语音的人比较多，这段语音没能识别。请稍后再发一次，或者直接打字，我们马上处理。",
    AsrStatus.UNAVAILABLE:
        f"抱歉，语音识别暂时用不了。请改用文字描述，着急的话可以拨打{HOTLINE}热线。",
    AsrStatus.NOT_FETCHED: "抱歉，这段语音没有收到完整的内容。请再发一次，或者改用文字。",
}


def failure_reply(status: str | None) -> OutboundMessage:
    """What the resident hears when a voice note has no transcript."""
    text = _FAILURES.get(status or "", "抱歉，这段语音没有识别出来。请再说一遍，或者改用文字描述。")
    return OutboundMessage.of_text(text)


def _compact(text: str) -> str:
    return "".join(ch for ch in normalise(text) if ch not in " ，,。.！!～~？?、")


def echo(text: str) -> OutboundMessage:
    shown = text if len(text) <= _LONGEST_ECHO else text[:_LONGEST_ECHO] + "……"
    return OutboundMessage.with_buttons(
        f"您说的是：“{shown}” 对吗？\n对的话请点“对”；不对可以重说一遍，或直接打字更正。",
        (Button("对", VOICE_YES), Button("不对，重说", VOICE_NO)),
    )


class VoiceGate:
    """Voice notes, the echo's buttons, and spoken or typed answers to the echo.

    ``rest`` are the handlers after this one: a confirmed transcript is handed
    to the first of them that matches, like a typed message would be."""

    name = "voice"

    def __init__(self, rider: RiderFlow, understanding: Understanding | None = None) -> None:
        self._rider = rider
        self._understanding = understanding
        self._rest: tuple[Handler, ...] = ()

    def bind(self, rest: Sequence[Handler]) -> None:
        self._rest = tuple(rest)

    def matches(self, turn: Turn) -> bool:
        message = turn.message
        if turn.payload in (VOICE_YES, VOICE_NO):
            return True
        if turn.payload is not None:
            return False
        if message.kind is InboundKind.VOICE:
            # With words (a transcript), or without, for a reason we can name.
            return bool(turn.text) or message.asr is not None
        return (
            message.kind is InboundKind.TEXT
            and bool(turn.text)
            and _pending(turn) is not None
        )

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]:
        message = turn.message
        state = turn.state
        if message.kind is InboundKind.VOICE and turn.payload is None:
            if not turn.text:
                return [failure_reply(message.asr)]
            text = normalise_transcript(turn.text)
            if RiderFlow.active(turn):
                state.context.pop(PENDING, None)
                return [await self._rider.answer(turn, text, spoken=True)]
            pending = _pending(turn)
            answer = _compact(text)
            if pending is not None and answer in _YES_WORDS:
                return await self._confirmed(turn, pending)
            if pending is not None and answer in _NO_WORDS:
                return [self._again(turn)]
            # A new voice note, or a spoken correction of the last one.
            state.context[PENDING] = {
                "text": text,
                "at": turn.now.isoformat(),
                "choices": (pending or {}).get("choices", state.context.get(_CHOICES)),
            }
            return [echo(text)]
        pending = _pending(turn)
        if turn.payload == VOICE_YES:
            if pending is None:
                return [OutboundMessage.of_text(
                    "这段语音已经处理过了。请直接说或打字告诉我新的问题。"
                )]
            return await self._confirmed(turn, pending)
        if turn.payload == VOICE_NO:
            return [self._again(turn)]
        # Typed while an echo is open: yes, no, or the corrected words themselves.
        assert pending is not None
        answer = _compact(turn.text)
        if answer in _YES_WORDS:
            return await self._confirmed(turn, pending)
        if answer in _NO_WORDS:
            return [self._again(turn)]
        state.context.pop(PENDING, None)
        _restore_choices(turn, pending)
        return await self._delegate(turn, turn.text)

    def _again(self, turn: Turn) -> OutboundMessage:
        pending = _pending(turn)
        turn.state.context.pop(PENDING, None)
        if pending is not None:
            _restore_choices(turn, pending)
        return OutboundMessage.of_text("好的，请再按住说一遍，或者直接打字告诉我。")

    async def _confirmed(self, turn: Turn, pending: dict[str, Any]) -> Sequence[OutboundMessage]:
        turn.state.context.pop(PENDING, None)
        _restore_choices(turn, pending)
        return await self._delegate(turn, str(pending.get("text") or ""))

    async def _delegate(self, turn: Turn, text: str) -> Sequence[OutboundMessage]:
        """Hand ``text`` to the handlers after this one, as typed text."""
        message = replace(turn.message, kind=InboundKind.TEXT, text=text, payload=None,
                          raw_type="voice:confirmed")
        payload = _button_for(turn, text)
        intent = await self._intent(turn, text, payload)
        inner = Turn(message=replace(message, payload=payload), state=turn.state,
                     intent=intent, payload=payload, now=turn.now)
        for handler in self._rest:
            if handler.matches(inner):
                turn.intent = intent
                return await handler.handle(inner)
        return []

    async def _intent(self, turn: Turn, text: str, payload: str | None) -> Intent | None:
        """As the dispatcher would read typed ``text`` (bot.dispatcher._understand)."""
        if payload is not None:
            if payload.startswith(INTENT_PAYLOAD_PREFIX):
                return Intent(name=payload[1:], confidence=1.0, source="payload")
            return None
        if self._understanding is None or not text or turn.state.awaiting is not None:
            return None
        return await self._understanding.parse(text)


def _pending(turn: Turn) -> dict[str, Any] | None:
    pending = turn.state.context.get(PENDING)
    if not isinstance(pending, dict):
        return None
    at = pending.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    if when is None or turn.now - when > PENDING_LIFETIME:
        turn.state.context.pop(PENDING, None)
        return None
    return pending


def _restore_choices(turn: Turn, pending: dict[str, Any]) -> None:
    """The echo's buttons replaced the question's: put the question's back."""
    choices = pending.get("choices")
    if choices:
        turn.state.context[_CHOICES] = choices
    else:
        turn.state.context.pop(_CHOICES, None)


def _button_for(turn: Turn, text: str) -> str | None:
    """The payload of the button whose title (or number) ``text`` is."""
    return chosen_payload(turn.state.context.get(_CHOICES) or [], _compact(text), _compact)
