"""The ticket desk over a scripted backend: filing, retries, progress, ratings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery import Backoff
from bot.errors import BackendRejected, BackendUnavailable, TicketNotFound
from bot.ports import FilingReceipt, SubmissionState
from bot.tickets import TicketDesk, account_pseudonym
from bot.types import (
    Channel,
    ConversationKey,
    EventKind,
    InboundMessage,
    StatusChange,
    Ticket,
    TicketDraft,
    TicketStatus,
)
from integrations.storage.ledger import MemoryTicketLedger

KEY = ConversationKey(Channel.WECHAT, "gh_test", "o-resident-1")
STRANGER = ConversationKey(Channel.WECHAT, "gh_test", "o-resident-2")
DRAFT = TicketDraft(request_type="complain", category="城乡建设", description="路灯坏了",
                    address="和平路12号")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ScriptedBackend:
    """Files tickets in memory; honours idempotency keys like the built-in service."""

    clock: Clock
    fail_next: int = 0
    lose_answer_next: int = 0
    reject: bool = False
    answer_with_token: bool = False
    supports_rating: bool = True
    tickets: dict[str, Ticket] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    name: str = "scripted"
    capabilities: frozenset[str] = frozenset({"rating", "withdraw"})

    async def file(self, draft: TicketDraft, *, idempotency_key: str,
                   account_id: str) -> FilingReceipt:
        self.calls.append(f"file:{idempotency_key}")
        self.accounts.append(account_id)
        if self.fail_next:
            self.fail_next -= 1
            raise BackendUnavailable("backend down")
        if self.reject:
            raise BackendRejected("缺少位置", status_code=400)
        ticket_id = self.by_key.get(idempotency_key)
        if ticket_id is None:
            ticket_id = f"MH20261123{len(self.tickets) + 1:04d}"
            self.by_key[idempotency_key] = ticket_id
            self.tickets[ticket_id] = Ticket(ticket_id, draft, TicketStatus.ACCEPTED,
                                             self.clock(), updated_at=self.clock())
        if self.lose_answer_next:
            self.lose_answer_next -= 1
            raise BackendUnavailable("connection reset after the request was stored")
        if self.answer_with_token:
            self.tokens["tok-" + ticket_id] = ticket_id
            return FilingReceipt(ticket_id=None, token="tok-" + ticket_id)
        return FilingReceipt(ticket_id=ticket_id, department="区城管委")

    async def resolve_token(self, token: str) -> str | None:
        return self.tokens.get(token)

    async def get(self, ticket_id: str) -> Ticket:
        if ticket_id not in self.tickets:
            raise TicketNotFound(ticket_id)
        return self.tickets[ticket_id]

    async def get_many(self, ticket_ids: Sequence[str]) -> list[Ticket]:
        return [self.tickets[t] for t in ticket_ids if t in self.tickets]

    async def supplement(self, ticket_id: str, *, text: str, photos: Sequence[str],
                         idempotency_key: str) -> Ticket:
        return self.tickets[ticket_id]

    async def withdraw(self, ticket_id: str, *, reason: str, idempotency_key: str) -> Ticket:
        return self.move(ticket_id, TicketStatus.WITHDRAWN)

    async def rate(self, ticket_id: str, *, score: int, comment: str | None,
                   idempotency_key: str) -> Ticket:
        if not self.supports_rating:
            from bot.errors import UnsupportedByBackend
            raise UnsupportedByBackend("plain Open311")
        if not self.tickets[ticket_id].status.is_finished:
            raise BackendRejected(f"工单 {ticket_id} 尚未办结，办结后才能评价。", status_code=409)
        if score <= 2:
            return self.move(ticket_id, TicketStatus.REOPENED)
        return self.tickets[ticket_id]

    def move(self, ticket_id: str, status: TicketStatus, note: str | None = None) -> Ticket:
        self.clock.now += timedelta(minutes=1)
        ticket = dataclasses.replace(self.tickets[ticket_id], status=status,
                                     updated_at=self.clock(), status_note=note)
        self.tickets[ticket_id] = ticket
        return ticket


@dataclass
class RecordingEvents:
    messages: list[InboundMessage] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> object:
        assert passive_budget is None, "status events are never answered passively"
        if message.message_id not in self.seen:  # the journal's dedup
            self.seen.add(message.message_id)
            self.messages.append(message)
        return None


@dataclass
class RecordingAlerts:
    alerts: list[tuple[str, str]] = field(default_factory=list)

    async def alert(self, *, kind: str, key: ConversationKey, text: str,
                    ticket_id: str | None = None) -> None:
        self.alerts.append((kind, text))


@dataclass
class Desk:
    desk: TicketDesk
    backend: ScriptedBackend
    ledger: MemoryTicketLedger
    events: RecordingEvents
    alerts: RecordingAlerts
    clock: Clock


@pytest.fixture
def desk() -> Desk:
    clock = Clock()
    backend = ScriptedBackend(clock)
    ledger = MemoryTicketLedger(clock=clock)
    events, alerts = RecordingEvents(), RecordingAlerts()
    ticket_desk = TicketDesk(
        backend=backend, ledger=ledger, events=events, alerts=alerts, clock=clock,
        owner="test", inline_timeout=1.0,
        backoff=Backoff(first=timedelta(seconds=2), cap=timedelta(seconds=30), attempts=50),
    )
    return Desk(ticket_desk, backend, ledger, events, alerts, clock)


async def test_a_request_is_filed_at_once_when_the_backend_answers(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id == "MH202611230001" and result.department == "区城管委"
    assert desk.backend.accounts == [account_pseudonym(KEY)]
    assert "o-resident-1" not in desk.backend.accounts[0]  # the openid never leaves
    again = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert again.repeated and again.ticket_id == "MH202611230001"
    assert desk.backend.calls == ["file:s1"]


async def test_during_an_outage_the_request_is_filed_once_after_recovery(desk: Desk) -> None:
    desk.backend.fail_next = 3
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id is None
    for _ in range(6):
        desk.clock.now += timedelta(minutes=1)
        await desk.desk.file_due()
    assert len(desk.backend.tickets) == 1
    assert desk.backend.calls == ["file:s1"] * 4  # one inline try, then three more
    record = await desk.ledger.get("s1")
    assert record is not None and record.ticket_id == "MH202611230001"
    # The resident hears the number through a status event, once.
    [event] = desk.events.messages
    assert event.event is EventKind.TICKET and event.key == KEY
    assert event.status_change is not None
    assert event.status_change.status is TicketStatus.ACCEPTED


async def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_ticket(
    desk: Desk,
) -> None:
    desk.backend.lose_answer_next = 1
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id is None
    desk.clock.now += timedelta(minutes=1)
    await desk.desk.file_due()
    assert desk.backend.calls == ["file:s1", "file:s1"]
    assert list(desk.backend.tickets) == ["MH202611230001"]


async def test_a_refused_request_goes_to_staff_and_is_not_retried(desk: Desk) -> None:
    desk.backend.reject = True
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id is None and result.record.state is SubmissionState.REJECTED
    assert [kind for kind, _ in desk.alerts.alerts] == ["filing_rejected"]
    desk.clock.now += timedelta(hours=1)
    assert await desk.desk.file_due() == 0


async def test_a_token_is_resolved_later(desk: Desk) -> None:
    desk.backend.answer_with_token = True
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id is None
    desk.clock.now += timedelta(seconds=10)
    await desk.desk.file_due()
    record = await desk.ledger.get("s1")
    assert record is not None and record.ticket_id == "MH202611230001"
    assert [m.status_change.ticket_id for m in desk.events.messages
            if m.status_change] == ["MH202611230001"]


async def test_status_changes_reach_the_resident_once_and_in_order(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    at = desk.clock() + timedelta(minutes=5)
    change = StatusChange(result.ticket_id, TicketStatus.DISPATCHED, at, department="区城管委")
    assert await desk.desk.status_changed(change, "d-1")
    assert not await desk.desk.status_changed(change, "d-1")  # redelivered: stale now
    older = StatusChange(result.ticket_id, TicketStatus.ACCEPTED, at - timedelta(minutes=1))
    assert not await desk.desk.status_changed(older, "d-0")
    assert not await desk.desk.status_changed(
        StatusChange("MH209901010001", TicketStatus.FINISHED, at), "d-9")
    assert [m.message_id for m in desk.events.messages] == ["ticket:d-1"]


async def test_polling_feeds_what_changed_since_last_time(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    assert await desk.desk.poll_once() == 0
    desk.backend.move(result.ticket_id, TicketStatus.FINISHED, note="已修复")
    assert await desk.desk.poll_once() == 1
    assert await desk.desk.poll_once() == 0
    [event] = desk.events.messages
    assert event.status_change is not None and event.status_change.note == "已修复"


async def test_residents_act_only_on_their_own_tickets(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    assert await desk.desk.lookup(STRANGER, result.ticket_id) is None
    with pytest.raises(TicketNotFound):
        await desk.desk.withdraw(STRANGER, result.ticket_id, submission_id="w1")
    ticket = await desk.desk.lookup(KEY, result.ticket_id)
    assert ticket is not None and ticket.draft.description == "路灯坏了"


async def test_a_withdrawal_is_not_pushed_back_to_the_resident(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    ticket = await desk.desk.withdraw(KEY, result.ticket_id, submission_id="w1")
    assert ticket.status is TicketStatus.WITHDRAWN
    assert ticket.updated_at is not None
    webhook = StatusChange(result.ticket_id, TicketStatus.WITHDRAWN, ticket.updated_at)
    assert not await desk.desk.status_changed(webhook, "d-2")


async def test_a_ticket_is_rated_once_and_a_bad_rating_reopens_it(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    desk.backend.move(result.ticket_id, TicketStatus.FINISHED)
    rating = await desk.desk.rate(KEY, result.ticket_id, score=1, comment=None,
                                  submission_id="r1")
    assert rating.accepted and rating.reopened
    again = await desk.desk.rate(KEY, result.ticket_id, score=5, comment=None,
                                 submission_id="r2")
    assert not again.accepted and again.already_rated


async def test_a_rating_refused_as_too_early_can_be_given_later(desk: Desk) -> None:
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    with pytest.raises(BackendRejected, match="尚未办结"):
        await desk.desk.rate(KEY, result.ticket_id, score=5, comment=None, submission_id="r1")
    desk.backend.move(result.ticket_id, TicketStatus.FINISHED)
    later = await desk.desk.rate(KEY, result.ticket_id, score=5, comment=None,
                                 submission_id="r2")
    assert later.accepted and not later.already_rated


async def test_a_backend_without_ratings_still_keeps_one_rating(desk: Desk) -> None:
    desk.backend.supports_rating = False
    result = await desk.desk.submit(KEY, DRAFT, submission_id="s1")
    assert result.ticket_id
    first = await desk.desk.rate(KEY, result.ticket_id, score=4, comment=None,
                                 submission_id="r1")
    second = await desk.desk.rate(KEY, result.ticket_id, score=4, comment=None,
                                  submission_id="r2")
    assert first.accepted and not first.reopened
    assert second.already_rated
