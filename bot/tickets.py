"""The ticket desk: files residents' requests and brings their progress back.

Nothing lost, nothing twice:

- A confirmed request goes into the ledger (``TicketLedger``) before
  anything else, under an idempotency key derived from the confirming
  message, so a retried turn finds it there instead of filing again.
- The desk then tries to file it at once, briefly. If the backend is slow or
  down, the request stays queued and the worker (:meth:`TicketDesk.run`)
  files it with exponential backoff, sending the same idempotency key each
  time, so a backend that honours it makes one ticket however often it was
  asked. A request the backend refuses for good is handed to staff.
- Every status change, from a signed webhook or from polling a backend
  without webhooks, is fed through the ingest pipeline as a ``TICKET``
  event for the resident's conversation, with an id that is the same on
  every redelivery. The inbound journal processes it once, the progress
  handler words it, and the outbox pushes it on the resident's channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.delivery import Backoff
from bot.errors import (
    AlreadyRated,
    BackendError,
    BackendRejected,
    BackendUnavailable,
    MinhuError,
    TicketNotFound,
    UnsupportedByBackend,
)
from bot.metrics import TICKET_FILINGS, TICKET_STATUS_EVENTS
from bot.ports import (
    Clock,
    FilingReceipt,
    RatingResult,
    StaffAlerts,
    SubmissionState,
    SubmitResult,
    TicketBackend,
    TicketLedger,
    TicketRecord,
)
from bot.types import (
    REOPEN_AT_OR_BELOW,
    ConversationKey,
    EventKind,
    InboundKind,
    InboundMessage,
    StatusChange,
    Ticket,
    TicketDraft,
    TicketStatus,
)

__all__ = [
    "DEFAULT_WITHDRAW_REASON",
    "WITHDRAW_REASON_LIMIT",
    "EventSubmitter",
    "TicketDesk",
    "account_pseudonym",
    "withdraw_reason",
]

# What the backend hears when the resident gave no reason for withdrawing.
DEFAULT_WITHDRAW_REASON = "群众主动撤回"
# The resident's own reason is cut to this many characters.
WITHDRAW_REASON_LIMIT = 200

log = logging.getLogger("minhu.tickets")


class EventSubmitter(Protocol):
    """The part of :class:`bot.ingest.Ingest` the desk feeds status events into."""

    async def submit(self, message: InboundMessage, *, passive_budget: float | None) -> object: ...


def account_pseudonym(key: ConversationKey) -> str:
    """What the backend sees as the resident's account: stable, but not their openid."""
    return "mh-" + hashlib.sha256(key.as_str().encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class _Filed:
    record: TicketRecord
    receipt: FilingReceipt


class TicketDesk:
    """Implements ``bot.ports.Tickets`` for the handlers, and runs the filing
    and polling loops."""

    def __init__(
        self,
        *,
        backend: TicketBackend,
        ledger: TicketLedger,
        events: EventSubmitter,
        alerts: StaffAlerts,
        clock: Clock,
        owner: str,
        inline_timeout: float = 2.0,
        backoff: Backoff | None = None,
        lease_seconds: float = 60.0,
        batch: int = 16,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self._backend = backend
        self._ledger = ledger
        self._events = events
        self._alerts = alerts
        self._clock = clock
        self._owner = owner
        self._inline_timeout = inline_timeout
        self._backoff = backoff or Backoff()
        self._lease_seconds = lease_seconds
        self._batch = batch
        self._idle_poll = idle_poll_seconds
        self._wake = asyncio.Event()

    @property
    def backend(self) -> TicketBackend:
        return self._backend

    # ------------------------------------------------------------ filing

    async def submit(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str
    ) -> SubmitResult:
        # Held for a little longer than the inline attempt, so the worker does
        # not file the same request at the same time.
        record, created = await self._ledger.add(
            key, draft, submission_id=submission_id, hold_seconds=self._inline_timeout + 5
        )
        if not created:
            return SubmitResult(record=record, ticket_id=record.ticket_id, repeated=True)
        try:
            filed = await asyncio.wait_for(self._file(record), timeout=self._inline_timeout)
        except (TimeoutError, BackendUnavailable) as exc:
            # Queued durably: the worker files it and the resident hears the number.
            log.info("filing deferred: %s", _reason(exc), extra={"conversation": key.as_str()})
            TICKET_FILINGS.labels("deferred").inc()
            delay = self._backoff.delay(1)
            await self._ledger.mark_retry(
                submission_id, error=_reason(exc),
                retry_at=self._clock() + delay if delay is not None else None,
            )
            self._wake.set()
            return SubmitResult(record=record, ticket_id=None)
        except BackendRejected as exc:
            await self._reject(record, exc)
            stored = await self._ledger.get(submission_id)
            return SubmitResult(record=stored or record, ticket_id=None)
        TICKET_FILINGS.labels("filed").inc()
        return SubmitResult(
            record=filed.record,
            ticket_id=filed.record.ticket_id,
            due_at=filed.receipt.due_at,
            department=filed.receipt.department,
        )

    async def _file(self, record: TicketRecord) -> _Filed:
        receipt = await self._backend.file(
            record.draft,
            idempotency_key=record.submission_id,
            account_id=account_pseudonym(record.key),
        )
        status = TicketStatus.ACCEPTED if receipt.ticket_id else None
        stored = await self._ledger.mark_filed(
            record.submission_id, ticket_id=receipt.ticket_id, token=receipt.token, status=status
        )
        return _Filed(stored, receipt)

    async def _reject(self, record: TicketRecord, exc: BaseException) -> None:
        log.error("the backend refused a request: %s", exc,
                  extra={"conversation": record.key.as_str()})
        TICKET_FILINGS.labels("rejected").inc()
        await self._ledger.mark_retry(record.submission_id, error=str(exc), retry_at=None)
        await self._alerts.alert(
            kind="filing_rejected",
            key=record.key,
            text=f"工单系统拒收了一条诉求，需要人工登记：{exc}",
        )

    def kick(self) -> None:
        self._wake.set()

    async def file_due(self) -> int:
        """File (or resolve the token of) every due request; return how many were tried."""
        due = await self._ledger.claim_pending(
            owner=self._owner, now=self._clock(), lease_seconds=self._lease_seconds,
            limit=self._batch,
        )
        for record in due:
            await self._file_queued(record)
        return len(due)

    async def _file_queued(self, record: TicketRecord) -> None:
        try:
            if record.state is SubmissionState.FILED and record.token:
                ticket_id = await self._backend.resolve_token(record.token)
                if ticket_id is None:
                    await self._ledger.mark_filed(
                        record.submission_id, ticket_id=None, token=record.token, status=None
                    )
                    return
                stored = await self._ledger.mark_filed(
                    record.submission_id, ticket_id=ticket_id, token=record.token,
                    status=TicketStatus.ACCEPTED,
                )
            else:
                stored = (await self._file(record)).record
        except BackendRejected as exc:
            await self._reject(record, exc)
            return
        except (BackendError, MinhuError) as exc:
            attempt = record.attempts + 1
            delay = self._backoff.delay(attempt)
            retry_at = self._clock() + delay if delay is not None else None
            log.warning("filing attempt %d failed: %s", attempt, _reason(exc),
                        extra={"conversation": record.key.as_str()})
            if retry_at is None:
                await self._reject(record, exc)
            else:
                TICKET_FILINGS.labels("retry").inc()
                await self._ledger.mark_retry(record.submission_id, error=str(exc),
                                              retry_at=retry_at)
            return
        if stored.ticket_id is None:
            return  # only a token so far; looked up again shortly
        TICKET_FILINGS.labels("filed").inc()
        # The resident was told "received, being registered": now tell the number.
        change = StatusChange(
            ticket_id=stored.ticket_id, status=TicketStatus.ACCEPTED, at=self._clock()
        )
        await self._feed(stored, change, event_id=f"filed:{stored.submission_id}")

    async def run(self, stop: asyncio.Event) -> None:
        """File queued requests until ``stop`` is set."""
        while not stop.is_set():
            try:
                tried = await self.file_due()
            except MinhuError:
                log.exception("ticket outbox pass failed; retrying")
                tried = 0
            if tried:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._idle_poll)

    # ------------------------------------------------------------ progress

    async def status_changed(self, change: StatusChange, event_id: str) -> bool:
        """A ticket changed (a verified webhook, or polling): tell its resident.

        Idempotent on ``event_id``. Returns False for a ticket the bot did not
        file, or a change older than what the resident already knows."""
        record = await self._ledger.by_ticket(change.ticket_id)
        if record is None:
            log.info("status change for a ticket not filed by the bot: %s", change.ticket_id)
            TICKET_STATUS_EVENTS.labels("unknown_ticket").inc()
            return False
        if record.status_at is not None and change.at <= record.status_at:
            # The resident caused it (withdraw, rating) or already heard it.
            TICKET_STATUS_EVENTS.labels("stale").inc()
            return False
        await self._feed(record, change, event_id=event_id)
        await self._ledger.record_status(change.ticket_id, change.status, change.at)
        TICKET_STATUS_EVENTS.labels("fed").inc()
        return True

    async def _feed(self, record: TicketRecord, change: StatusChange, *, event_id: str) -> None:
        message = InboundMessage(
            key=record.key,
            message_id=f"ticket:{event_id}"[:128],
            kind=InboundKind.EVENT,
            received_at=self._clock(),
            event=EventKind.TICKET,
            status_change=change,
        )
        # Journal first (durable, deduplicated), then the turn runs in the
        # background and its messages go out through the outbox.
        await self._events.submit(message, passive_budget=None)

    async def poll_once(self, *, limit: int = 50) -> int:
        """For backends without webhooks: look at open tickets, feed what changed."""
        records = await self._ledger.open_tickets(limit=limit)
        if not records:
            return 0
        by_id = {r.ticket_id: r for r in records if r.ticket_id}
        fed = 0
        for ticket in await self._backend.get_many(list(by_id)):
            record = by_id.get(ticket.ticket_id)
            if record is None:
                continue
            for change in _changes_since(record, ticket):
                event_id = f"poll:{change.ticket_id}:{change.status.value}:{change.at.isoformat()}"
                if await self.status_changed(change, event_id):
                    fed += 1
        return fed

    async def run_polling(self, stop: asyncio.Event, *, interval: float) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except MinhuError as exc:
                log.warning("polling the ticket backend failed: %s", _reason(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    # ------------------------------------------------------------ resident's acts

    async def mine(self, key: ConversationKey, *, limit: int = 10) -> list[TicketRecord]:
        return await self._ledger.for_conversation(key, limit=limit)

    async def _own(self, key: ConversationKey, ticket_id: str) -> TicketRecord:
        record = await self._ledger.by_ticket(ticket_id)
        if record is None or record.key != key:
            raise TicketNotFound(f"no ticket {ticket_id} for this resident")
        return record

    async def lookup(self, key: ConversationKey, ticket_id: str) -> Ticket | None:
        try:
            record = await self._own(key, ticket_id)
        except TicketNotFound:
            return None
        try:
            return await self._backend.get(ticket_id)
        except BackendUnavailable:
            # Show what the bot knows rather than nothing.
            return Ticket(
                ticket_id=ticket_id,
                draft=record.draft,
                status=record.status or TicketStatus.ACCEPTED,
                created_at=record.created_at,
                updated_at=record.status_at,
                rating=record.rating,
            )
        except TicketNotFound:
            return None

    async def supplement(
        self, key: ConversationKey, ticket_id: str, *, text: str, photos: Sequence[str],
        submission_id: str,
    ) -> Ticket:
        await self._own(key, ticket_id)
        return await self._backend.supplement(
            ticket_id, text=text, photos=photos, idempotency_key=submission_id
        )

    async def withdraw(
        self, key: ConversationKey, ticket_id: str, *, submission_id: str,
        reason: str | None = None,
    ) -> Ticket:
        await self._own(key, ticket_id)
        ticket = await self._backend.withdraw(
            ticket_id, reason=withdraw_reason(reason), idempotency_key=submission_id
        )
        await self._remember(ticket)
        return ticket

    async def rate(
        self, key: ConversationKey, ticket_id: str, *, score: int, comment: str | None,
        submission_id: str,
    ) -> RatingResult:
        record = await self._own(key, ticket_id)
        if record.rating is not None:
            return RatingResult(accepted=False, already_rated=True)
        try:
            ticket: Ticket | None = await self._backend.rate(
                ticket_id, score=score, comment=comment, idempotency_key=submission_id
            )
        except UnsupportedByBackend:
            ticket = None  # plain Open311: the rating is kept on our side only
        except AlreadyRated:
            await self._ledger.record_rating(ticket_id, score)
            return RatingResult(accepted=False, already_rated=True)
        if not await self._ledger.record_rating(ticket_id, score):
            return RatingResult(accepted=False, already_rated=True, ticket=ticket)
        if ticket is not None:
            await self._remember(ticket)
        reopened = score <= REOPEN_AT_OR_BELOW and (
            ticket is None or ticket.status is TicketStatus.REOPENED
        )
        return RatingResult(accepted=True, reopened=reopened, ticket=ticket)

    async def _remember(self, ticket: Ticket) -> None:
        """The resident's own act changed the status: record it, so that the
        webhook announcing the same change is not pushed back to them."""
        # The history's last change is the exact moment (the standard
        # updated_datetime is only to the second).
        times = [change.at for change in ticket.history]
        if ticket.updated_at is not None:
            times.append(ticket.updated_at)
        at = max(times) if times else self._clock()
        await self._ledger.record_status(ticket.ticket_id, ticket.status, at)


def _changes_since(record: TicketRecord, ticket: Ticket) -> list[StatusChange]:
    """What happened to ``ticket`` since the status the resident last heard."""
    since = record.status_at
    if ticket.history:
        return [c for c in ticket.history if since is None or c.at > since]
    if ticket.status is record.status:
        return []
    at = ticket.updated_at or ticket.created_at
    if since is not None and at <= since:
        return []
    return [StatusChange(
        ticket_id=ticket.ticket_id, status=ticket.status, at=at, note=ticket.status_note,
        department=ticket.department, previous=record.status, adopted=ticket.adopted,
    )]


def withdraw_reason(reason: str | None) -> str:
    """The resident's reason on one line, cut to ``WITHDRAW_REASON_LIMIT``
    characters; the standard wording when there is none."""
    text = " ".join((reason or "").split())
    if not text:
        return DEFAULT_WITHDRAW_REASON
    if len(text) > WITHDRAW_REASON_LIMIT:
        text = text[: WITHDRAW_REASON_LIMIT - 1] + "…"
    return text


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
