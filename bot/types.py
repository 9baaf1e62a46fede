"""Channel-neutral core types.

Every channel adapter converts its own wire format into these types on the
way in and out of them on the way out; handlers and the dispatcher only ever
see what is defined here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "EMERGENCY_ADVICE",
    "EMERGENCY_NUMBERS",
    "RATING_LEVELS",
    "REOPEN_AT_OR_BELOW",
    "REQUEST_TYPES",
    "AuditEntry",
    "Button",
    "Channel",
    "ConversationKey",
    "Entity",
    "EventKind",
    "HandoffCase",
    "HandoffQueue",
    "HandoffReason",
    "HandoffStatus",
    "HistoryEntry",
    "HistoryLine",
    "InboundKind",
    "InboundMessage",
    "Intent",
    "Location",
    "OutboundKind",
    "OutboundMessage",
    "ReplyWindowInfo",
    "StatusChange",
    "Ticket",
    "TicketDraft",
    "TicketStatus",
    "rating_label",
]


class Channel(enum.StrEnum):
    """Where a resident talks to us from."""

    WECHAT = "wechat"
    MINIPROGRAM = "miniprogram"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Identifies one resident on one channel of one account.

    ``account`` is the channel-side identity we answer as (the official
    account's original id, the bot's id); ``user`` is the resident's id on
    that channel (an openid, a Telegram chat id).
    """

    channel: Channel
    account: str
    user: str

    def as_str(self) -> str:
        return f"{self.channel.value}:{self.account}:{self.user}"

    @classmethod
    def parse(cls, value: str) -> ConversationKey:
        channel, account, user = value.split(":", 2)
        return cls(Channel(channel), account, user)


class InboundKind(enum.StrEnum):
    TEXT = "text"
    VOICE = "voice"
    IMAGE = "image"
    VIDEO = "video"
    LOCATION = "location"
    LINK = "link"
    # A phone number the resident shared with a tap (Telegram's contact
    # message); ``text`` holds the number as the channel gave it.
    CONTACT = "contact"
    EVENT = "event"
    UNKNOWN = "unknown"


class EventKind(enum.StrEnum):
    """Channel events, named after WeChat's (the richest set we receive)."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SCAN = "scan"
    LOCATION = "location"
    CLICK = "click"
    VIEW = "view"
    # Not from a channel: a change to one of the resident's tickets, fed in
    # by the ticket desk so that it is handled (and deduplicated) like a turn.
    TICKET = "ticket"
    # Not from a channel either: a staff handoff opened or ended (bot.handoff),
    # fed in so that the conversation's state changes in a turn of its own.
    HANDOFF = "handoff"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    label: str | None = None
    precision: float | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a resident sent or did, already authenticated and parsed.

    ``message_id`` is the channel's delivery identity used for exactly-once
    processing (WeChat's MsgId, or FromUserName+CreateTime for events).
    ``text`` carries typed text, a voice transcript, or a button payload's
    label; ``payload`` carries the machine-readable value of a pressed
    button or menu item, which lets the dispatcher skip NLU.
    """

    key: ConversationKey
    message_id: str
    kind: InboundKind
    received_at: datetime
    text: str | None = None
    payload: str | None = None
    media_id: str | None = None
    media_url: str | None = None
    media_format: str | None = None
    location: Location | None = None
    event: EventKind | None = None
    event_key: str | None = None
    raw_type: str | None = None
    status_change: StatusChange | None = None
    # Voice only, set by ``bot.voice`` before the turn: "ok" when ``text`` is
    # our own transcript, else why there is none ("too_long", "unreadable"...).
    asr: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A quick reply: ``title`` is shown, ``payload`` comes back when pressed."""

    title: str
    payload: str


class OutboundKind(enum.StrEnum):
    TEXT = "text"
    BUTTONS = "buttons"
    IMAGE = "image"


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    kind: OutboundKind
    text: str = ""
    buttons: tuple[Button, ...] = ()
    image_url: str | None = None
    image_media_id: str | None = None
    # Set on a ticket's progress push: the change it words, for channels that
    # send it in a structured form too (the mini-program's subscribe messages).
    ticket_update: StatusChange | None = None

    @classmethod
    def of_text(cls, text: str) -> OutboundMessage:
        return cls(OutboundKind.TEXT, text=text)

    @classmethod
    def with_buttons(cls, text: str, buttons: tuple[Button, ...]) -> OutboundMessage:
        return cls(OutboundKind.BUTTONS, text=text, buttons=buttons)

    def plain_text(self) -> str:
        """The message for channels that cannot show buttons.

        Options are numbered so the resident can answer with a digit; the
        dispatcher maps such a digit back to the button's payload.
        """
        if self.kind is OutboundKind.IMAGE:
            return self.text or "[图片]"
        if not self.buttons:
            return self.text
        options = "\n".join(f"{i}. {b.title}" for i, b in enumerate(self.buttons, start=1))
        return f"{self.text}\n{options}\n请回复序号或文字选择。"


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str
    value: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Intent:
    """What the resident wants, as NLU (or a button, or a keyword rule) saw it."""

    name: str
    confidence: float
    category: str = "其他"
    category_confidence: float = 0.0
    entities: tuple[Entity, ...] = ()
    source: str = "nlu"
    # Other readings NLU considered, best first: (intent name, confidence).
    alternatives: tuple[tuple[str, float], ...] = ()

    def entity(self, name: str) -> str | None:
        for item in self.entities:
            if item.entity == name:
                return item.value
        return None


# Request types, named after the 12345 classes (domain.md §1); the names are a contract.
REQUEST_TYPES: dict[str, str] = {
    "consult": "咨询",
    "seek_help": "求助",
    "complain": "投诉",
    "report": "举报",
    "suggest": "建议",
    "praise": "表扬",
}


# Emergencies are not hotline work (domain.md §1): whatever the channel, the
# first thing the resident reads is the number to call.
EMERGENCY_NUMBERS: tuple[tuple[str, str], ...] = (("110", "报警"), ("119", "火警"), ("120", "急救"))
EMERGENCY_ADVICE = (
    "情况紧急请立即拨打：报警110，火警119，急救120。\n"
    "请先确保自身安全，远离危险区域。"
)


class TicketStatus(enum.StrEnum):
    """The closed loop of a request (domain.md §1)."""

    ACCEPTED = "受理"
    DISPATCHED = "已派单"
    IN_PROGRESS = "办理中"
    FINISHED = "已办结"
    FOLLOWED_UP = "已回访"
    CLOSED = "已关闭"
    RETURNED = "退单"
    REASSIGNED = "改派"
    REOPENED = "重办"
    WITHDRAWN = "已撤回"

    @property
    def is_open(self) -> bool:
        """Still being worked on (a rating or a follow-up may still come)."""
        return self not in (TicketStatus.CLOSED, TicketStatus.WITHDRAWN)

    @property
    def is_finished(self) -> bool:
        """The department has answered: the resident may rate it."""
        return self in (TicketStatus.FINISHED, TicketStatus.FOLLOWED_UP, TicketStatus.CLOSED)


# 好差评 (domain.md §1): five levels, one rating per matter. Index 0 is the
# best; a score is 5 (非常满意) down to 1 (非常不满意).
RATING_LEVELS: tuple[str, ...] = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
# 不满意 and 非常不满意 reopen the ticket for a follow-up (重办).
REOPEN_AT_OR_BELOW = 2


def rating_label(score: int) -> str:
    """The level's name for a score from 5 (best) to 1."""
    if not 1 <= score <= 5:
        raise ValueError(f"a rating is 1 to 5, not {score}")
    return RATING_LEVELS[5 - score]


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """What the intake dialogue collected before the resident confirms."""

    request_type: str
    category: str = "其他"
    description: str = ""
    address: str | None = None
    location: Location | None = None
    occurred_at: str | None = None
    phone: str | None = None
    photos: tuple[str, ...] = ()
    anonymous: bool = False
    urgent: bool = False
    district: str | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    ticket_id: str
    draft: TicketDraft
    status: TicketStatus
    created_at: datetime
    department: str | None = None
    due_at: datetime | None = None
    history: tuple[StatusChange, ...] = field(default=())
    updated_at: datetime | None = None
    # The department's latest note to the resident (Open311 status_notes).
    status_note: str | None = None
    rating: int | None = None
    # For a suggestion (建议): whether it was adopted, once decided.
    adopted: bool | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    ticket_id: str
    status: TicketStatus
    at: datetime
    note: str | None = None
    department: str | None = None
    previous: TicketStatus | None = None
    adopted: bool | None = None


# ---------------------------------------------------------------- staff handoff


class HandoffQueue(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class HandoffStatus(enum.StrEnum):
    WAITING = "waiting"
    ACTIVE = "active"
    CLOSED = "closed"


class HandoffReason(enum.StrEnum):
    ASKED = "asked"            # human intent / 转人工 menu / button
    UNCLEAR = "unclear"        # two unclear turns in a row
    DISTRESS = "distress"      # strong anger or distress words
    BAD_RATING = "bad_rating"  # second bad rating on the same matter
    EMERGENCY = "emergency"
    SENSITIVE = "sensitive"    # petitions/complaints about officials, self-harm -> SUPERVISOR


@dataclass(frozen=True, slots=True)
class HandoffCase:
    """A conversation handed to staff: at most one open case per conversation."""

    case_id: str
    key: ConversationKey
    queue: HandoffQueue
    reason: HandoffReason
    status: HandoffStatus
    opened_at: datetime
    summary: str
    claimed_by: str | None = None          # staff username
    claimed_at: datetime | None = None
    last_resident_at: datetime | None = None
    last_staff_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None           # username, or "idle" / "system"
    after_hours: bool = False

    @property
    def is_open(self) -> bool:
        return self.status is not HandoffStatus.CLOSED


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line of a conversation, for the console, before the database numbers it.

    ``author`` is "resident", "bot", "staff:<username>" or "system"; ``kind``
    one of text, voice, image, location, event, contact, ticket. ``text`` is
    plain text (a voice message's transcript when there is one), never HTML.
    ``source`` makes the line unique (e.g. the inbound message's identity), so
    that recording the same thing twice keeps one line; None: always a new line.
    """

    key: ConversationKey
    at: datetime
    author: str
    kind: str
    text: str
    intent: str | None = None
    category: str | None = None
    media_url: str | None = None
    case_id: str | None = None
    delivery: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry(HistoryLine):
    """A stored :class:`HistoryLine`.

    ``entry_id`` increases per database: it is the cursor of live updates.
    ``delivery`` is set on staff replies: queued, sent, failed or subscribe.
    """

    entry_id: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One staff action: who did what, when (a reply's detail is its text)."""

    at: datetime
    staff: str
    action: str
    case_id: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReplyWindowInfo:
    """Whether staff can write to the resident now: WeChat's 48 h / 5 message
    window (``remaining`` pushes left until ``closes_at``); always open, with
    both None, on channels without such a rule."""

    open: bool
    closes_at: datetime | None = None
    remaining: int | None = None
