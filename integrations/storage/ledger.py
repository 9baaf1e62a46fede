"""The ticket ledger (``bot.ports.TicketLedger``): SQL and in-memory, same behaviour.

One row per confirmed request. Until the backend files it the row is an
outbox entry (``pending``, with a lease and a retry time); afterwards it is
the link from the ticket id back to the resident's conversation, with the
last status the bot told the resident about and the rating they gave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, or_, select, update

from bot.ports import SubmissionState, TicketRecord
from bot.types import ConversationKey, TicketDraft, TicketStatus
from integrations.storage.codec import (
    as_utc,
    ticket_draft_from_json,
    ticket_draft_to_json,
    utc_now,
)
from integrations.storage.models import ResidentTicket
from integrations.storage.repositories import Database

__all__ = ["MemoryTicketLedger", "SqlTicketLedger"]

_tickets = cast(Table, ResidentTicket.__table__)
_FINAL = (TicketStatus.CLOSED.value, TicketStatus.WITHDRAWN.value)
_ERROR_CHARS = 1000


def _record(row: Any) -> TicketRecord:
    return TicketRecord(
        submission_id=row.submission_id,
        key=ConversationKey.parse(row.conversation_key),
        draft=ticket_draft_from_json(row.draft),
        state=SubmissionState(row.state),
        created_at=as_utc(row.created_at),
        attempts=row.attempts,
        ticket_id=row.ticket_id,
        token=row.token,
        status=TicketStatus(row.status) if row.status else None,
        status_at=as_utc(row.status_at) if row.status_at else None,
        rating=row.rating,
        error=row.last_error,
    )


def _unleased(table: Any, now: datetime) -> Any:
    return or_(table.c.lease_until.is_(None), table.c.lease_until <= now)


def _due(table: Any, now: datetime) -> Any:
    """Pending submissions, and filed ones known only by a token, that are due."""
    unresolved = or_(
        table.c.state == SubmissionState.PENDING.value,
        and_(table.c.state == SubmissionState.FILED.value, table.c.ticket_id.is_(None)),
    )
    return and_(unresolved, table.c.next_attempt_at <= now, _unleased(table, now))


class SqlTicketLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str,
        hold_seconds: float = 0.0,
    ) -> tuple[TicketRecord, bool]:
        now = self._db.now()
        t = _tickets
        insert = (
            self._db.insert(t)
            .values(
                submission_id=submission_id,
                conversation_key=key.as_str(),
                draft=ticket_draft_to_json(draft),
                state=SubmissionState.PENDING.value,
                attempts=0,
                next_attempt_at=now + timedelta(seconds=hold_seconds),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["submission_id"])
        )

        def unit(conn: Connection) -> tuple[TicketRecord, bool]:
            created = conn.execute(insert).rowcount == 1
            row = conn.execute(select(t).where(t.c.submission_id == submission_id)).one()
            return _record(row), created

        return await self._db.run("ledger add", unit)

    async def claim_pending(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[TicketRecord]:
        t = _tickets
        now = as_utc(now)
        candidates = (
            select(t.c.id).where(_due(t, now)).order_by(t.c.next_attempt_at, t.c.id).limit(limit)
        )
        if not self._db.is_sqlite:
            candidates = candidates.with_for_update(skip_locked=True)
        lease_until = now + timedelta(seconds=lease_seconds)

        def unit(conn: Connection) -> list[TicketRecord]:
            ids = list(conn.execute(candidates).scalars())
            if not ids:
                return []
            conn.execute(
                update(t)
                .where(t.c.id.in_(ids))
                .values(lease_owner=owner, lease_until=lease_until)
            )
            rows = conn.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.id)).all()
            return [_record(row) for row in rows]

        return await self._db.run("ledger claim", unit)

    async def mark_filed(
        self,
        submission_id: str,
        *,
        ticket_id: str | None,
        token: str | None,
        status: TicketStatus | None,
    ) -> TicketRecord:
        t = _tickets
        now = self._db.now()
        values: dict[str, Any] = {
            "state": SubmissionState.FILED.value,
            "ticket_id": ticket_id,
            "token": token,
            "lease_owner": None,
            "lease_until": None,
            "last_error": None,
            "updated_at": now,
        }
        if status is not None:
            values.update(status=status.value, status_at=now)
        if ticket_id is None:
            # Known only by its token: look the id up again shortly.
            values["next_attempt_at"] = now + timedelta(seconds=5)

        def unit(conn: Connection) -> TicketRecord:
            conn.execute(update(t).where(t.c.submission_id == submission_id).values(**values))
            return _record(conn.execute(select(t).where(t.c.submission_id == submission_id)).one())

        return await self._db.run("ledger filed", unit)

    async def mark_retry(
        self, submission_id: str, *, error: str, retry_at: datetime | None
    ) -> None:
        t = _tickets
        now = self._db.now()
        values: dict[str, Any] = {
            "attempts": t.c.attempts + 1,
            "last_error": error[:_ERROR_CHARS],
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        if retry_at is None:
            values["state"] = SubmissionState.REJECTED.value
        else:
            values["next_attempt_at"] = as_utc(retry_at)

        def unit(conn: Connection) -> None:
            conn.execute(update(t).where(t.c.submission_id == submission_id).values(**values))

        await self._db.run("ledger retry", unit)

    async def get(self, submission_id: str) -> TicketRecord | None:
        return await self._one(_tickets.c.submission_id == submission_id)

    async def by_ticket(self, ticket_id: str) -> TicketRecord | None:
        return await self._one(_tickets.c.ticket_id == ticket_id)

    async def _one(self, where: Any) -> TicketRecord | None:
        t = _tickets

        def unit(conn: Connection) -> TicketRecord | None:
            row = conn.execute(select(t).where(where)).first()
            return _record(row) if row is not None else None

        return await self._db.run("ledger get", unit, write=False)

    async def for_conversation(
        self, key: ConversationKey, *, limit: int = 20
    ) -> list[TicketRecord]:
        t = _tickets
        query = (
            select(t)
            .where(t.c.conversation_key == key.as_str())
            .order_by(t.c.id.desc())
            .limit(limit)
        )

        def unit(conn: Connection) -> list[TicketRecord]:
            return [_record(row) for row in conn.execute(query)]

        return await self._db.run("ledger list", unit, write=False)

    async def record_status(self, ticket_id: str, status: TicketStatus, at: datetime) -> bool:
        t = _tickets
        at = as_utc(at)
        statement = (
            update(t)
            .where(t.c.ticket_id == ticket_id, or_(t.c.status_at.is_(None), t.c.status_at < at))
            .values(status=status.value, status_at=at, updated_at=self._db.now())
        )

        def unit(conn: Connection) -> bool:
            return bool(conn.execute(statement).rowcount)

        return await self._db.run("ledger status", unit)

    async def record_rating(self, ticket_id: str, score: int) -> bool:
        t = _tickets
        statement = (
            update(t)
            .where(t.c.ticket_id == ticket_id, t.c.rating.is_(None))
            .values(rating=score, updated_at=self._db.now())
        )

        def unit(conn: Connection) -> bool:
            return bool(conn.execute(statement).rowcount)

        return await self._db.run("ledger rating", unit)

    async def open_tickets(self, *, limit: int) -> list[TicketRecord]:
        t = _tickets
        now = self._db.now()
        query = (
            select(t)
            .where(
                t.c.state == SubmissionState.FILED.value,
                t.c.ticket_id.is_not(None),
                or_(t.c.status.is_(None), t.c.status.not_in(_FINAL)),
            )
            # Never-checked first, then least recently checked.
            .order_by(t.c.checked_at.is_not(None), t.c.checked_at, t.c.id)
            .limit(limit)
        )

        def unit(conn: Connection) -> list[TicketRecord]:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    update(t).where(t.c.id.in_([r.id for r in rows])).values(checked_at=now)
                )
            return [_record(row) for row in rows]

        return await self._db.run("ledger open tickets", unit)


@dataclass
class _Row:
    record: TicketRecord
    seq: int
    next_attempt_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    checked_at: datetime | None = None


class MemoryTicketLedger:
    """The same behaviour in memory, for fast unit tests."""

    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._rows: dict[str, _Row] = {}
        self._lock = asyncio.Lock()

    def _now(self) -> datetime:
        return as_utc(self._clock())

    async def add(
        self, key: ConversationKey, draft: TicketDraft, *, submission_id: str,
        hold_seconds: float = 0.0,
    ) -> tuple[TicketRecord, bool]:
        async with self._lock:
            row = self._rows.get(submission_id)
            if row is not None:
                return row.record, False
            now = self._now()
            record = TicketRecord(
                submission_id=submission_id, key=key, draft=draft,
                state=SubmissionState.PENDING, created_at=now,
            )
            self._rows[submission_id] = _Row(
                record, len(self._rows), now + timedelta(seconds=hold_seconds)
            )
            return record, True

    async def claim_pending(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[TicketRecord]:
        now = as_utc(now)
        async with self._lock:
            due = [
                row for row in self._rows.values()
                if (
                    row.record.state is SubmissionState.PENDING
                    or (row.record.state is SubmissionState.FILED and row.record.ticket_id is None)
                )
                and row.next_attempt_at <= now
                and (row.lease_until is None or row.lease_until <= now)
            ]
            due.sort(key=lambda row: (row.next_attempt_at, row.seq))
            claimed = due[:limit]
            for row in claimed:
                row.lease_owner = owner
                row.lease_until = now + timedelta(seconds=lease_seconds)
            return [row.record for row in sorted(claimed, key=lambda row: row.seq)]

    async def mark_filed(
        self,
        submission_id: str,
        *,
        ticket_id: str | None,
        token: str | None,
        status: TicketStatus | None,
    ) -> TicketRecord:
        async with self._lock:
            row = self._rows[submission_id]
            now = self._now()
            changes: dict[str, Any] = {
                "state": SubmissionState.FILED, "ticket_id": ticket_id, "token": token,
                "error": None,
            }
            if status is not None:
                changes.update(status=status, status_at=now)
            row.record = replace(row.record, **changes)
            row.lease_owner = row.lease_until = None
            if ticket_id is None:
                row.next_attempt_at = now + timedelta(seconds=5)
            return row.record

    async def mark_retry(
        self, submission_id: str, *, error: str, retry_at: datetime | None
    ) -> None:
        async with self._lock:
            row = self._rows[submission_id]
            changes: dict[str, Any] = {
                "attempts": row.record.attempts + 1, "error": error[:_ERROR_CHARS],
            }
            if retry_at is None:
                changes["state"] = SubmissionState.REJECTED
            else:
                row.next_attempt_at = as_utc(retry_at)
            row.record = replace(row.record, **changes)
            row.lease_owner = row.lease_until = None

    async def get(self, submission_id: str) -> TicketRecord | None:
        row = self._rows.get(submission_id)
        return row.record if row else None

    async def by_ticket(self, ticket_id: str) -> TicketRecord | None:
        for row in self._rows.values():
            if row.record.ticket_id == ticket_id:
                return row.record
        return None

    async def for_conversation(
        self, key: ConversationKey, *, limit: int = 20
    ) -> list[TicketRecord]:
        rows = [row for row in self._rows.values() if row.record.key == key]
        rows.sort(key=lambda row: row.seq, reverse=True)
        return [row.record for row in rows[:limit]]

    async def record_status(self, ticket_id: str, status: TicketStatus, at: datetime) -> bool:
        at = as_utc(at)
        async with self._lock:
            for row in self._rows.values():
                if row.record.ticket_id != ticket_id:
                    continue
                if row.record.status_at is not None and row.record.status_at >= at:
                    return False
                row.record = replace(row.record, status=status, status_at=at)
                return True
            return False

    async def record_rating(self, ticket_id: str, score: int) -> bool:
        async with self._lock:
            for row in self._rows.values():
                if row.record.ticket_id == ticket_id:
                    if row.record.rating is not None:
                        return False
                    row.record = replace(row.record, rating=score)
                    return True
            return False

    async def open_tickets(self, *, limit: int) -> list[TicketRecord]:
        now = self._now()
        async with self._lock:
            rows = [
                row for row in self._rows.values()
                if row.record.state is SubmissionState.FILED
                and row.record.ticket_id is not None
                and (row.record.status is None or row.record.status.value not in _FINAL)
            ]
            rows.sort(key=lambda row: (row.checked_at is not None,
                                       row.checked_at or now, row.seq))
            picked = rows[:limit]
            for row in picked:
                row.checked_at = now
            return [row.record for row in picked]
