"""In-memory stand-ins for the ticket desk, staff alerts and the knowledge base.

``FakeTickets`` keeps the promises of ``bot.ports.Tickets`` the handlers rely
on: ``submit`` is idempotent on the submission id (a repeat returns the same
record, ``repeated=True``), a down backend leaves the request queued with no
number, ``lookup`` hides other residents' tickets, and ratings are one per
ticket with a bad one reopening it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.errors import BackendRejected, TicketNotFound, UnsupportedByBackend
from bot.ports import (
    KnowledgeAnswer,
    RatingResult,
    SubmissionState,
    SubmitResult,
    TicketRecord,
)
from bot.types import (
    REOPEN_AT_OR_BELOW,
    ConversationKey,
    StatusChange,
    Ticket,
    TicketDraft,
    TicketStatus,
)

# 2026-11-23 10:00 Beijing time; every ticket is due a day and eight hours later.
FILED_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DUE_AFTER = timedelta(days=1, hours=8)
DEPARTMENT = "区城市管理委员会"


@dataclass
class Supplement:
    ticket_id: str
    text: str
    photos: tuple[str, ...]
    submission_id: str


@dataclass
class FakeTickets:
    down: bool = False
    can_supplement: bool = True
    calls: list[tuple[str, TicketDraft]] = field(default_factory=list)
    records: dict[str, TicketRecord] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    supplements: list[Supplement] = field(default_factory=list)
    ratings: list[tuple[str, int]] = field(default_factory=list)
    withdraw_reasons: list[str | None] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _order: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------ port

    async def submit(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str
    ) -> SubmitResult:
        self.calls.append((submission_id, draft))
        if submission_id in self.records:
            record = self.records[submission_id]
            return SubmitResult(record=record, ticket_id=record.ticket_id, repeated=True)
        created = FILED_AT + timedelta(seconds=next(self._order))
        record = TicketRecord(
            submission_id=submission_id, key=key, draft=draft,
            state=SubmissionState.PENDING, created_at=created,
        )
        self.records[submission_id] = record
        if self.down:
            return SubmitResult(record=record, ticket_id=None)
        ticket = self._file(submission_id)
        return SubmitResult(
            record=self.records[submission_id], ticket_id=ticket.ticket_id,
            due_at=ticket.due_at, department=ticket.department,
        )

    async def mine(self, key: ConversationKey, *, limit: int = 10) -> list[TicketRecord]:
        own = [r for r in self.records.values() if r.key == key]
        return sorted(own, key=lambda r: r.created_at, reverse=True)[:limit]

    async def lookup(self, key: ConversationKey, ticket_id: str) -> Ticket | None:
        record = self._record(ticket_id)
        if record is None or record.key != key:
            return None
        return self.tickets[ticket_id]

    async def supplement(
        self, key: ConversationKey, ticket_id: str, *, text: str, photos: Sequence[str],
        submission_id: str,
    ) -> Ticket:
        ticket = self._own(key, ticket_id)
        if not self.can_supplement:
            raise UnsupportedByBackend("plain Open311 has no supplements")
        if not ticket.status.is_open or ticket.status.is_finished:
            raise BackendRejected("工单已办结，不能再补充", status_code=409)
        self.supplements.append(Supplement(ticket_id, text, tuple(photos), submission_id))
        return ticket

    async def withdraw(
        self, key: ConversationKey, ticket_id: str, *, submission_id: str,
        reason: str | None = None,
    ) -> Ticket:
        ticket = self._own(key, ticket_id)
        self.withdraw_reasons.append(reason)
        if ticket.status.is_finished:
            raise BackendRejected("工单已办结，不能撤回", status_code=409)
        return self.advance(ticket_id, TicketStatus.WITHDRAWN)[0]

    async def rate(
        self, key: ConversationKey, ticket_id: str, *, score: int, comment: str | None,
        submission_id: str,
    ) -> RatingResult:
        self._own(key, ticket_id)
        record = self._record(ticket_id)
        assert record is not None
        if record.rating is not None:
            return RatingResult(accepted=False, already_rated=True)
        self.ratings.append((ticket_id, score))
        self._store(replace(record, rating=score))
        self.tickets[ticket_id] = replace(self.tickets[ticket_id], rating=score)
        if score <= REOPEN_AT_OR_BELOW:
            ticket, _ = self.advance(ticket_id, TicketStatus.REOPENED)
            return RatingResult(accepted=True, reopened=True, ticket=ticket)
        return RatingResult(accepted=True, ticket=self.tickets[ticket_id])

    # ------------------------------------------------------------ test controls

    def file_queued(self, submission_id: str) -> StatusChange:
        """The worker files a request that was queued while the backend was down."""
        ticket = self._file(submission_id)
        return StatusChange(ticket.ticket_id, TicketStatus.ACCEPTED, ticket.created_at)

    def advance(
        self, ticket_id: str, status: TicketStatus, *, note: str | None = None,
        department: str | None = DEPARTMENT, adopted: bool | None = None,
    ) -> tuple[Ticket, StatusChange]:
        """Move a ticket on, as its department would; returns the change to feed in."""
        ticket = self.tickets[ticket_id]
        at = (ticket.updated_at or ticket.created_at) + timedelta(hours=2)
        change = StatusChange(
            ticket_id=ticket_id, status=status, at=at, note=note, department=department,
            previous=ticket.status, adopted=adopted,
        )
        ticket = replace(
            ticket, status=status, updated_at=at, history=(*ticket.history, change),
            status_note=note or ticket.status_note,
            adopted=adopted if adopted is not None else ticket.adopted,
        )
        self.tickets[ticket_id] = ticket
        record = self._record(ticket_id)
        assert record is not None
        self._store(replace(record, status=status, status_at=at))
        return ticket, change

    def filed(self) -> list[TicketRecord]:
        return [r for r in self.records.values() if r.ticket_id is not None]

    # ------------------------------------------------------------ internals

    def _file(self, submission_id: str) -> Ticket:
        record = self.records[submission_id]
        ticket_id = f"MH20261123{next(self._numbers):04d}"
        accepted = StatusChange(ticket_id, TicketStatus.ACCEPTED, record.created_at)
        ticket = Ticket(
            ticket_id=ticket_id, draft=record.draft, status=TicketStatus.ACCEPTED,
            created_at=record.created_at, department=DEPARTMENT,
            due_at=record.created_at + DUE_AFTER, history=(accepted,),
            updated_at=record.created_at,
        )
        self.tickets[ticket_id] = ticket
        self._store(replace(
            record, state=SubmissionState.FILED, ticket_id=ticket_id,
            status=TicketStatus.ACCEPTED, status_at=record.created_at,
        ))
        return ticket

    def _store(self, record: TicketRecord) -> None:
        self.records[record.submission_id] = record

    def _record(self, ticket_id: str) -> TicketRecord | None:
        return next((r for r in self.records.values() if r.ticket_id == ticket_id), None)

    def _own(self, key: ConversationKey, ticket_id: str) -> Ticket:
        record = self._record(ticket_id)
        if record is None or record.key != key:
            raise TicketNotFound(f"no ticket {ticket_id} for this resident")
        return self.tickets[ticket_id]


@dataclass(frozen=True)
class Alert:
    kind: str
    key: ConversationKey
    text: str
    ticket_id: str | None


@dataclass
class FakeAlerts:
    sent: list[Alert] = field(default_factory=list)

    async def alert(
        self, *, kind: str, key: ConversationKey, text: str, ticket_id: str | None = None
    ) -> None:
        self.sent.append(Alert(kind, key, text, ticket_id))


@dataclass
class FakeKnowledge:
    """Answers when the question contains one of ``answers``' keys."""

    answers: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def search(self, text: str) -> KnowledgeAnswer | None:
        self.asked.append(text)
        for topic, answer in self.answers.items():
            if topic in text:
                return KnowledgeAnswer(entry_id=topic, question=topic, answer=answer, score=0.9)
        return None
