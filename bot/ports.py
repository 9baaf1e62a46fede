"""Ports: what the core needs from the outside world, as protocols.

Adapters in ``integrations/`` and ``nlu/`` implement these; the composition
root (``bot.wiring``) picks which. Each port has one contract test suite in
``tests/contracts/`` that every implementation must pass.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.state import ConversationState, ReplyWindow
from bot.types import (
    AuditEntry,
    Channel,
    ConversationKey,
    HandoffCase,
    HandoffQueue,
    HandoffReason,
    HistoryEntry,
    HistoryLine,
    InboundMessage,
    Intent,
    OutboundMessage,
    Ticket,
    TicketDraft,
    TicketStatus,
)

__all__ = [
    "BACKEND_CAPABILITIES",
    "Acceptance",
    "ChannelSender",
    "Clock",
    "ConversationStore",
    "DeliveryQueue",
    "Escalations",
    "FallbackNotifier",
    "FilingReceipt",
    "HandoffGate",
    "HandoffOutlook",
    "HandoffStore",
    "HealthCheck",
    "HistoryLine",
    "InboundJournal",
    "InboundPreparer",
    "KnowledgeAnswer",
    "KnowledgeBase",
    "PendingDelivery",
    "RatingResult",
    "ReplyWindows",
    "SpeechToText",
    "StaffAlerts",
    "SubmissionState",
    "SubmitResult",
    "TicketBackend",
    "TicketLedger",
    "TicketRecord",
    "Tickets",
    "TokenStore",
    "Transcript",
    "TurnRecord",
    "Understanding",
]


class Clock(Protocol):
    def __call__(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class Understanding(Protocol):
    """Turns a resident's text into an intent, a category and entities."""

    async def parse(self, text: str) -> Intent: ...


@dataclass(frozen=True, slots=True)
class Acceptance:
    """The journal's answer to an incoming delivery.

    ``new`` is true for exactly one of any number of concurrent or repeated
    deliveries of the same message, across all replicas. For a repeat,
    ``reply`` is the passive reply already given, when there was one, so a
    retried delivery can be answered the same way without processing again.
    """

    new: bool
    reply: OutboundMessage | None = None
    # For a new message, the conversation's state as stored when the message
    # was accepted, read in the same transaction (the state cache takes it
    # when it is newer than its own copy); None for a repeat.
    state: ConversationState | None = None


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """What the dispatcher commits atomically at the end of one turn."""

    message: InboundMessage
    state: ConversationState
    intent: Intent | None
    handler: str
    passive_reply: OutboundMessage | None
    pushes: Sequence[OutboundMessage]
    # The turn as the console shows it (bot.handoff.turn_lines), committed with it.
    history: Sequence[HistoryLine] = ()


class InboundJournal(Protocol):
    """Durable record of every accepted inbound message: dedup, audit, recovery."""

    async def accept(
        self, message: InboundMessage, *, owner: str, lease_seconds: float
    ) -> Acceptance:
        """Store the message durably unless it is a repeat; lease it to ``owner``."""
        ...

    async def claim_unfinished(
        self, *, owner: str, lease_seconds: float, limit: int
    ) -> list[InboundMessage]:
        """Messages accepted but never finished whose lease ran out (a crash)."""
        ...


class ConversationStore(Protocol):
    async def load(self, key: ConversationKey) -> ConversationState:
        """The stored state, or a fresh one for a new conversation."""
        ...

    async def complete_turn(self, record: TurnRecord) -> None:
        """In one transaction: save the state (optimistic lock on ``version``,
        raising ``ConcurrentUpdate`` when it was changed meanwhile), mark the
        message finished with its passive reply, queue the pushes, and add the
        history lines (a line whose ``source`` is stored already is skipped)."""
        ...


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    delivery_id: int
    key: ConversationKey
    message: OutboundMessage
    attempts: int
    created_at: datetime


class DeliveryQueue(Protocol):
    """The durable outbox of messages pushed to residents outside a passive reply."""

    async def enqueue(self, key: ConversationKey, messages: Sequence[OutboundMessage]) -> None: ...

    async def claim_due(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[PendingDelivery]:
        """Due deliveries, oldest first, at most one per conversation at a time
        so that a resident receives messages in order."""
        ...

    async def mark_sent(self, delivery_id: int, *, via: str) -> None: ...

    async def mark_failed(
        self, delivery_id: int, *, error: str, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt; ``retry_at=None`` gives up for good."""
        ...


class ReplyWindows(Protocol):
    """The channel's allowance for unsolicited pushes (WeChat's 48 h / 5 messages)."""

    async def open(self, message: InboundMessage) -> None: ...

    async def reserve(self, key: ConversationKey, now: datetime) -> bool:
        """Take one push from the allowance, atomically; false when none is left."""
        ...

    async def release(self, key: ConversationKey) -> None:
        """Give back a reserved push that was not delivered."""
        ...

    async def current(self, key: ConversationKey) -> ReplyWindow: ...


class TokenStore(Protocol):
    """A shared store for channel access tokens, so all replicas use one token."""

    async def get(self, name: str) -> tuple[str, datetime] | None: ...

    async def replace(
        self, name: str, token: str, expires_at: datetime, *, previous: str | None
    ) -> bool:
        """Store ``token`` only if the stored one is still ``previous``; false
        when another replica refreshed first."""
        ...


@runtime_checkable
class ChannelSender(Protocol):
    """Pushes a message to a resident on one channel."""

    channel: Channel

    async def send(self, key: ConversationKey, message: OutboundMessage) -> str:
        """Deliver now; return how it went out (e.g. ``"custom"``, ``"template"``).

        Raises ``DeliveryError`` to retry later, ``PermanentDeliveryError`` to
        give up."""
        ...


class InboundPreparer(Protocol):
    """A channel's own work on a message before its turn, such as fetching a
    photo the channel names only by an id staff cannot open.

    The ingest runs it inside the turn: after the message is in the journal
    and the webhook has answered, under the conversation's lock (so the
    messages of one chat keep their order). It runs again when a turn is
    recovered, so it must be repeatable. It returns the message to process;
    when its work fails it returns ``message`` itself (the message must not
    be lost over it) and says why in the log.
    """

    async def prepare(self, message: InboundMessage) -> InboundMessage: ...


class FallbackNotifier(Protocol):
    """What a channel uses when its reply window is shut: subscribe/template messages."""

    async def notify(self, key: ConversationKey, message: OutboundMessage) -> None: ...


class HealthCheck(Protocol):
    name: str

    async def check(self) -> None:
        """Return when healthy; raise with a short reason otherwise."""
        ...


# ---------------------------------------------------------------- tickets

# Operations beyond standard Open311 that a backend may offer (minhu's
# built-in work-order service offers them all).
BACKEND_CAPABILITIES = frozenset(
    {"history", "supplement", "withdraw", "rating", "webhooks"}
)


@dataclass(frozen=True, slots=True)
class FilingReceipt:
    """What a backend answers to a new request.

    Open311 gives either the ticket id at once or a ``token`` to look it up
    later (``GET tokens/{token}``)."""

    ticket_id: str | None
    token: str | None = None
    department: str | None = None
    due_at: datetime | None = None
    notice: str | None = None


class TicketBackend(Protocol):
    """A work-order system reached over HTTP (Open311 GeoReport v2, plus
    minhu's extensions where ``capabilities`` says so).

    Raises ``BackendUnavailable`` when a retry may help (down, timeout, 5xx),
    ``BackendRejected``/``TicketNotFound`` when it will not, and
    ``UnsupportedByBackend`` for an operation the backend lacks.
    """

    name: str
    capabilities: frozenset[str]

    async def file(
        self, draft: TicketDraft, *, idempotency_key: str, account_id: str
    ) -> FilingReceipt:
        """File a request. Sending the same ``idempotency_key`` again must not
        make a second ticket on a backend that honours it."""
        ...

    async def resolve_token(self, token: str) -> str | None:
        """The ticket id behind a filing token, or None while there is none yet."""
        ...

    async def get(self, ticket_id: str) -> Ticket: ...

    async def get_many(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        """The tickets found among ``ticket_ids`` (unknown ids are left out)."""
        ...

    async def supplement(
        self, ticket_id: str, *, text: str, photos: Sequence[str], idempotency_key: str
    ) -> Ticket: ...

    async def withdraw(self, ticket_id: str, *, reason: str, idempotency_key: str) -> Ticket: ...

    async def rate(
        self, ticket_id: str, *, score: int, comment: str | None, idempotency_key: str
    ) -> Ticket:
        """Record the resident's rating (5 best … 1 worst); the backend reopens
        the ticket (重办) at or below ``REOPEN_AT_OR_BELOW``."""
        ...


class SubmissionState(enum.StrEnum):
    PENDING = "pending"      # accepted from the resident, not yet filed
    FILED = "filed"          # the backend gave it a ticket id (or a token)
    REJECTED = "rejected"    # the backend refused it for good


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """The bot's own record of one resident's request: the outbox entry
    until it is filed, then the link from the ticket back to the conversation."""

    submission_id: str
    key: ConversationKey
    draft: TicketDraft
    state: SubmissionState
    created_at: datetime
    attempts: int = 0
    ticket_id: str | None = None
    token: str | None = None
    status: TicketStatus | None = None
    status_at: datetime | None = None
    rating: int | None = None
    error: str | None = None


class TicketLedger(Protocol):
    """Durable store of the residents' requests on the bot's side."""

    async def add(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str,
        hold_seconds: float = 0.0,
    ) -> tuple[TicketRecord, bool]:
        """Queue a confirmed request; idempotent on ``submission_id``: a repeat
        returns the stored record and False. The new entry is not due for
        ``hold_seconds`` (while the caller tries to file it itself)."""
        ...

    async def claim_pending(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[TicketRecord]:
        """Due submissions (pending, or filed with only a token), leased to
        ``owner`` so that one replica files each at a time."""
        ...

    async def mark_filed(
        self, submission_id: str, *, ticket_id: str | None, token: str | None,
        status: TicketStatus | None,
    ) -> TicketRecord: ...

    async def mark_retry(
        self, submission_id: str, *, error: str, retry_at: datetime | None
    ) -> None:
        """A failed attempt; ``retry_at=None`` marks it rejected for good."""
        ...

    async def get(self, submission_id: str) -> TicketRecord | None: ...

    async def by_ticket(self, ticket_id: str) -> TicketRecord | None: ...

    async def for_conversation(
        self, key: ConversationKey, *, limit: int = 20
    ) -> list[TicketRecord]:
        """The resident's requests, newest first."""
        ...

    async def record_status(self, ticket_id: str, status: TicketStatus, at: datetime) -> bool:
        """Remember the latest status; False when ``at`` is not newer than the stored one."""
        ...

    async def record_rating(self, ticket_id: str, score: int) -> bool:
        """Remember the rating; False if the ticket was rated already (one per matter)."""
        ...

    async def open_tickets(self, *, limit: int) -> list[TicketRecord]:
        """Filed tickets not yet closed or withdrawn, least recently checked first."""
        ...


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """``ticket`` when the backend filed it at once; otherwise it is queued
    and the resident hears the number when it is filed."""

    record: TicketRecord
    ticket_id: str | None
    due_at: datetime | None = None
    department: str | None = None
    repeated: bool = False


@dataclass(frozen=True, slots=True)
class RatingResult:
    accepted: bool
    already_rated: bool = False
    reopened: bool = False
    ticket: Ticket | None = None


class Tickets(Protocol):
    """What handlers may do with tickets (``bot.tickets.TicketDesk``)."""

    async def submit(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str
    ) -> SubmitResult:
        """Queue durably, then try to file once, briefly. Never raises for a
        backend outage: the request stays queued and is filed later."""
        ...

    async def mine(self, key: ConversationKey, *, limit: int = 10) -> list[TicketRecord]: ...

    async def lookup(self, key: ConversationKey, ticket_id: str) -> Ticket | None:
        """One of the resident's own tickets with its timeline; None for
        anyone else's or an unknown number."""
        ...

    async def supplement(
        self, key: ConversationKey, ticket_id: str, *, text: str, photos: Sequence[str],
        submission_id: str,
    ) -> Ticket: ...

    async def withdraw(
        self, key: ConversationKey, ticket_id: str, *, submission_id: str,
        reason: str | None = None,
    ) -> Ticket:
        """Withdraw one of the resident's tickets; ``reason`` is their own words
        (cut to a sensible length), else a standard wording is sent."""
        ...

    async def rate(
        self, key: ConversationKey, ticket_id: str, *, score: int, comment: str | None,
        submission_id: str,
    ) -> RatingResult: ...


@dataclass(frozen=True, slots=True)
class KnowledgeAnswer:
    entry_id: str
    question: str
    answer: str
    score: float
    links: tuple[str, ...] = field(default=())


class KnowledgeBase(Protocol):
    """Answers to common questions, kept as data files staff can edit."""

    async def search(self, text: str) -> KnowledgeAnswer | None:
        """The best answer when it fits well enough, else None."""
        ...


class StaffAlerts(Protocol):
    """Tells staff at once about something that cannot wait (an emergency,
    a bad rating)."""

    async def alert(
        self, *, kind: str, key: ConversationKey, text: str, ticket_id: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a voice note said."""

    text: str  # Simplified Chinese (OpenCC t2s), stripped; may be "" for silence
    duration_seconds: float  # length of the audio
    seconds_spent: float  # wall time of decoding plus recognition
    engine: str  # e.g. "faster-whisper:base-int8"


class SpeechToText(Protocol):
    """Turns a voice note (AMR, Speex, OGG/Opus, mp3, aac, wav...) into text.

    Raises AudioTooLong (or AudioTooLarge) over the limits, AudioUnreadable for
    empty or corrupt audio, SpeechBusy when the work queue is full and
    SpeechUnavailable when no engine can run.
    """

    async def transcribe(
        self, audio: bytes, *, audio_format: str | None = None, max_seconds: float = 60.0
    ) -> Transcript: ...
# ---------------------------------------------------------------- staff handoff


class HandoffStore(Protocol):
    """Durable cases, the conversation history the console reads, and the audit log.

    The history's ``entry_id`` increases with every line added anywhere, so
    ``changes_since(cursor)`` is the console's durable change feed.
    """

    async def create(
        self, case: HandoffCase, line: HistoryLine
    ) -> tuple[HandoffCase, bool]:
        """Open ``case`` and add ``line``, unless the conversation has an open
        case already: then that one and False (nothing is added)."""
        ...

    async def get(self, case_id: str) -> HandoffCase | None: ...

    async def open_for(self, key: ConversationKey) -> HandoffCase | None: ...

    async def list_open(
        self, *, queues: Sequence[HandoffQueue], include_active: bool
    ) -> list[HandoffCase]:
        """Open cases in ``queues``, oldest first (waiting ones only unless
        ``include_active``)."""
        ...

    async def replace(
        self, old: HandoffCase, new: HandoffCase, line: HistoryLine | None = None
    ) -> bool:
        """Compare-and-set: store ``new``'s queue, status, claim and closing
        fields (and add ``line``) only if the stored case still has ``old``'s
        status, queue and claimant; False otherwise."""
        ...

    async def touch(
        self, case_id: str, *, resident_at: datetime | None = None,
        staff_at: datetime | None = None,
    ) -> HandoffCase | None:
        """Record activity on an open case; None when it is closed or unknown."""
        ...

    async def append(self, lines: Sequence[HistoryLine]) -> list[HistoryEntry]:
        """Add lines (those whose ``source`` is stored already are skipped)."""
        ...

    async def add_reply(
        self, line: HistoryLine, message: OutboundMessage
    ) -> HistoryEntry:
        """In one transaction: queue ``message`` in the outbox for ``line.key``
        and add ``line``, whose ``delivery`` then follows the outbox's progress."""
        ...

    async def history(
        self, key: ConversationKey, *, limit: int, before: int | None
    ) -> list[HistoryEntry]:
        """The last ``limit`` lines of the conversation (before the entry
        ``before`` when given), oldest first."""
        ...

    async def changes_since(self, cursor: int, *, limit: int) -> list[HistoryEntry]:
        """Lines with ``entry_id > cursor``, oldest first."""
        ...

    async def entries(self, ids: Sequence[int]) -> list[HistoryEntry]:
        """The lines with these ids (unknown ids left out), oldest first; a staff
        reply's ``delivery`` read afresh from the outbox."""
        ...

    async def add_audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(self, *, case_id: str | None, limit: int) -> list[AuditEntry]:
        """Newest first."""
        ...


@dataclass(frozen=True, slots=True)
class HandoffOutlook:
    """What the resident is told when handed to staff."""

    case: HandoffCase
    created: bool                 # False: the conversation was with staff already
    ahead: int                    # residents waiting before them in the same queue
    wait_minutes: int
    after_hours: bool
    back_at: datetime | None      # when staff are next on duty (outside hours)
    hours: str                    # the service hours in words ("周一至周五 09:00-18:00")
    back_text: str = ""           # back_at in the district's time ("12月8日（周一）09:00")


class Escalations(Protocol):
    """What handlers may do to hand a conversation to staff (``bot.handoff.HandoffDesk``)."""

    async def escalate(
        self, key: ConversationKey, *, reason: HandoffReason, summary: str,
        queue: HandoffQueue | None = None, case_id: str | None = None,
    ) -> HandoffCase: ...

    async def outlook(self, case: HandoffCase, *, created: bool = True) -> HandoffOutlook: ...

    async def recent_text(self, key: ConversationKey, *, limit: int = 5) -> list[str]:
        """The resident's latest typed or spoken texts, oldest first."""
        ...


class HandoffGate(Protocol):
    """What the dispatcher asks while a conversation is marked as with staff."""

    async def hold(self, case_id: str, message: InboundMessage) -> bool:
        """True (and the case's last_resident_at updated) while the case is
        open: the bot stays silent. False when it was closed meanwhile."""
        ...
