"""The handler API: explicit handler objects chosen in order, one per intent or flow.

A handler sees a :class:`Turn` (the message, the conversation state it may
change, and the understood intent) and returns the messages to send. It
never touches a transport or a database: what it needs beyond the turn
comes through ports given to its constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.state import ConversationState
from bot.types import Button, InboundKind, InboundMessage, Intent, OutboundMessage

__all__ = [
    "INTENT_PAYLOAD_PREFIX", "Handler", "Turn", "chosen_payload", "intent_button", "text_of",
]

# A button whose payload starts with this names an intent directly
# ("/human"), so pressing it needs no NLU call.
INTENT_PAYLOAD_PREFIX = "/"


def intent_button(title: str, intent: str) -> Button:
    return Button(title=title, payload=f"{INTENT_PAYLOAD_PREFIX}{intent}")


def text_of(message: InboundMessage) -> str:
    return (message.text or "").strip()


def chosen_payload(
    choices: Sequence[Sequence[object]], answer: str,
    fold: Callable[[str], str] = lambda title: title,
) -> str | None:
    """The payload of the [title, payload] choice that ``answer`` names: by its
    number ("2") or by its title, as ``fold`` makes titles comparable."""
    if answer.isdigit():
        index = int(answer) - 1
        return str(choices[index][1]) if 0 <= index < len(choices) else None
    for title, payload in choices:
        if fold(str(title)) == answer:
            return str(payload)
    return None


@dataclass(slots=True)
class Turn:
    """One inbound message being handled.

    ``intent`` is None when no understanding was needed or possible (a photo,
    a location, an answer to the question in ``state.awaiting``). ``payload``
    is the pressed button's or menu item's value, if any, including a
    numbered answer to a plain-text list of options.
    """

    message: InboundMessage
    state: ConversationState
    intent: Intent | None
    payload: str | None
    now: datetime

    @property
    def text(self) -> str:
        return text_of(self.message)

    @property
    def is_text(self) -> bool:
        return self.message.kind in (InboundKind.TEXT, InboundKind.VOICE) and bool(self.text)

    def intent_is(self, *names: str) -> bool:
        return self.intent is not None and self.intent.name in names


class Handler(Protocol):
    """One intent or flow. The dispatcher asks handlers in order; the first
    whose :meth:`matches` says yes handles the turn."""

    name: str

    def matches(self, turn: Turn) -> bool: ...

    async def handle(self, turn: Turn) -> Sequence[OutboundMessage]: ...
