"""The handoff store (``bot.ports.HandoffStore``): SQL and in-memory, same behaviour.

- One open case per conversation: the unique ``open_key`` (the conversation
  key while open, NULL once closed) decides between concurrent escalations
  on every backend; ``create`` is one ``INSERT ... ON CONFLICT DO NOTHING``.
- Case changes are compare-and-set ``UPDATE``s on (status, queue, claimant),
  so two staff claiming at once cannot both win.
- History lines are numbered by the table's id: the console's cursor. A
  staff reply is queued in the outbox in the same transaction as its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select, update

from bot.errors import StorageError
from bot.ports import HistoryLine
from bot.types import (
    AuditEntry,
    ConversationKey,
    HandoffCase,
    HandoffQueue,
    HandoffReason,
    HandoffStatus,
    HistoryEntry,
    OutboundMessage,
)
from integrations.storage.codec import as_utc, outbound_to_json
from integrations.storage.handoff_models import (
    HandoffAuditRow,
    HandoffCaseRow,
    HistoryRow,
    history_rows,
)
from integrations.storage.memory import MemoryDatabase, _snapshot, _yield
from integrations.storage.models import Delivery, DeliveryStatus
from integrations.storage.repositories import Database

__all__ = ["MemoryHandoffStore", "SqlHandoffStore", "delivery_state"]

_cases = cast(Table, HandoffCaseRow.__table__)
_history = cast(Table, HistoryRow.__table__)
_audit = cast(Table, HandoffAuditRow.__table__)
_deliveries = cast(Table, Delivery.__table__)

def delivery_state(marker: str | None, status: str | None, via: str | None) -> str | None:
    """A staff reply's delivery as the console shows it, from the outbox row."""
    if marker is None:
        return None
    if status is None:
        return marker
    if status == DeliveryStatus.DEAD:
        return "failed"
    if status == DeliveryStatus.SENT:
        return "subscribe" if via == "template" or marker == "subscribe" else "sent"
    return "subscribe" if marker == "subscribe" else "queued"


def _case_values(case: HandoffCase) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "conversation_key": case.key.as_str(),
        "open_key": case.key.as_str() if case.is_open else None,
        "queue": case.queue.value,
        "reason": case.reason.value,
        "status": case.status.value,
        "summary": case.summary,
        "opened_at": as_utc(case.opened_at),
        "claimed_by": case.claimed_by,
        "claimed_at": _utc(case.claimed_at),
        "last_resident_at": _utc(case.last_resident_at),
        "last_staff_at": _utc(case.last_staff_at),
        "closed_at": _utc(case.closed_at),
        "closed_by": case.closed_by,
        "after_hours": case.after_hours,
    }


# The fields ``replace`` changes (activity times belong to ``touch``).
_REPLACED = ("open_key", "queue", "status", "claimed_by", "claimed_at", "closed_at", "closed_by")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _case(row: Any) -> HandoffCase:
    return HandoffCase(
        case_id=row.case_id,
        key=ConversationKey.parse(row.conversation_key),
        queue=HandoffQueue(row.queue),
        reason=HandoffReason(row.reason),
        status=HandoffStatus(row.status),
        opened_at=as_utc(row.opened_at),
        summary=row.summary,
        claimed_by=row.claimed_by,
        claimed_at=_utc(row.claimed_at),
        last_resident_at=_utc(row.last_resident_at),
        last_staff_at=_utc(row.last_staff_at),
        closed_at=_utc(row.closed_at),
        closed_by=row.closed_by,
        after_hours=bool(row.after_hours),
    )


def _entry(row: Any, status: str | None = None, via: str | None = None) -> HistoryEntry:
    return HistoryEntry(
        entry_id=row.id,
        key=ConversationKey.parse(row.conversation_key),
        at=as_utc(row.at),
        author=row.author,
        kind=row.kind,
        text=row.text,
        intent=row.intent,
        category=row.category,
        media_url=row.media_url,
        delivery=delivery_state(row.delivery, status, via),
        case_id=row.case_id,
    )


def _audit_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        at=as_utc(row.at), staff=row.staff, action=row.action, case_id=row.case_id,
        detail=row.detail,
    )


# -- SQL ---------------------------------------------------------------------------------


class SqlHandoffStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        h = _history
        d = _deliveries
        self._insert_lines = db.insert(h).on_conflict_do_nothing(index_elements=[h.c.source])
        self._entries = (
            select(h, d.c.status.label("delivery_status"), d.c.via.label("delivery_via"))
            .select_from(h.outerjoin(d, d.c.id == h.c.delivery_id))
        )

    # -- cases

    async def create(self, case: HandoffCase, line: HistoryLine) -> tuple[HandoffCase, bool]:
        values = _case_values(case)
        rows = history_rows([line])
        # Any conflict: the conversation's open case, or a case id used before.
        statement = self._db.insert(_cases).values(**values).on_conflict_do_nothing()

        def unit(conn: Connection) -> tuple[Any, bool]:
            if conn.execute(statement).rowcount == 1:
                conn.execute(self._insert_lines, rows)
                return None, True
            existing = conn.execute(
                select(_cases).where(_cases.c.open_key == values["open_key"])
            ).first() or conn.execute(
                select(_cases).where(_cases.c.case_id == values["case_id"])
            ).first()
            return existing, False

        for _ in range(3):
            existing, created = await self._db.run("open handoff case", unit)
            if created:
                return case, True
            if existing is not None:
                return _case(existing), False
            # The open case was closed between the insert and the read: again.
        raise StorageError("could not open a handoff case: it kept changing")

    async def get(self, case_id: str) -> HandoffCase | None:
        def unit(conn: Connection) -> Any:
            return conn.execute(select(_cases).where(_cases.c.case_id == case_id)).first()

        row = await self._db.run("get handoff case", unit, write=False)
        return None if row is None else _case(row)

    async def open_for(self, key: ConversationKey) -> HandoffCase | None:
        def unit(conn: Connection) -> Any:
            return conn.execute(
                select(_cases).where(_cases.c.open_key == key.as_str())
            ).first()

        row = await self._db.run("open handoff case for", unit, write=False)
        return None if row is None else _case(row)

    async def list_open(
        self, *, queues: Sequence[HandoffQueue], include_active: bool
    ) -> list[HandoffCase]:
        statuses = [HandoffStatus.WAITING.value]
        if include_active:
            statuses.append(HandoffStatus.ACTIVE.value)
        statement = (
            select(_cases)
            .where(
                _cases.c.status.in_(statuses),
                _cases.c.queue.in_([q.value for q in queues]),
            )
            .order_by(_cases.c.opened_at, _cases.c.case_id)
        )

        def unit(conn: Connection) -> list[Any]:
            return list(conn.execute(statement))

        return [_case(row) for row in await self._db.run("list handoff cases", unit, write=False)]

    async def replace(
        self, old: HandoffCase, new: HandoffCase, line: HistoryLine | None = None
    ) -> bool:
        c = _cases
        values = {name: _case_values(new)[name] for name in _REPLACED}
        statement = (
            update(c)
            .where(
                c.c.case_id == old.case_id,
                c.c.status == old.status.value,
                c.c.queue == old.queue.value,
                c.c.claimed_by.is_not_distinct_from(old.claimed_by),
            )
            .values(**values)
        )
        rows = history_rows([line]) if line is not None else []

        def unit(conn: Connection) -> bool:
            if conn.execute(statement).rowcount != 1:
                return False
            if rows:
                conn.execute(self._insert_lines, rows)
            return True

        return await self._db.run("change handoff case", unit)

    async def touch(
        self, case_id: str, *, resident_at: datetime | None = None,
        staff_at: datetime | None = None,
    ) -> HandoffCase | None:
        c = _cases
        values: dict[str, Any] = {}
        if resident_at is not None:
            values["last_resident_at"] = as_utc(resident_at)
        if staff_at is not None:
            values["last_staff_at"] = as_utc(staff_at)
        where = (c.c.case_id == case_id, c.c.status != HandoffStatus.CLOSED.value)

        def unit(conn: Connection) -> Any:
            if values and conn.execute(update(c).where(*where).values(**values)).rowcount != 1:
                return None
            return conn.execute(select(c).where(*where)).first()

        row = await self._db.run("touch handoff case", unit, write=bool(values))
        return None if row is None else _case(row)

    # -- history

    async def append(self, lines: Sequence[HistoryLine]) -> list[HistoryEntry]:
        if not lines:
            return []
        rows = history_rows(lines)
        insert = self._db.insert(_history).on_conflict_do_nothing(
            index_elements=[_history.c.source]
        ).returning(_history.c.id)

        def unit(conn: Connection) -> list[int]:
            ids: list[int] = []
            for row in rows:
                got = conn.execute(insert, row).first()
                if got is not None:
                    ids.append(int(got.id))
            return ids

        ids = await self._db.run("append history", unit)
        return await self._by_ids(ids)

    async def add_reply(self, line: HistoryLine, message: OutboundMessage) -> HistoryEntry:
        now = self._db.now()
        delivery = self._db.insert(_deliveries).values(
            conversation_key=line.key.as_str(),
            message=outbound_to_json(message),
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        ).returning(_deliveries.c.id)
        row = history_rows([line])[0]
        insert = self._db.insert(_history).returning(_history.c.id)

        def unit(conn: Connection) -> int:
            delivery_id = conn.execute(delivery).scalar_one()
            return int(conn.execute(insert, {**row, "delivery_id": delivery_id}).scalar_one())

        entry_id = await self._db.run("staff reply", unit)
        return (await self._by_ids([entry_id]))[0]

    async def entries(self, ids: Sequence[int]) -> list[HistoryEntry]:
        return await self._by_ids(ids)

    async def _by_ids(self, ids: Sequence[int]) -> list[HistoryEntry]:
        if not ids:
            return []
        statement = self._entries.where(_history.c.id.in_(list(ids))).order_by(_history.c.id)
        return await self._read("read history lines", statement)

    async def _read(self, what: str, statement: Any) -> list[HistoryEntry]:
        def unit(conn: Connection) -> list[Any]:
            return list(conn.execute(statement))

        rows = await self._db.run(what, unit, write=False)
        return [_entry(row, row.delivery_status, row.delivery_via) for row in rows]

    async def history(
        self, key: ConversationKey, *, limit: int, before: int | None
    ) -> list[HistoryEntry]:
        h = _history
        statement = self._entries.where(h.c.conversation_key == key.as_str())
        if before is not None:
            statement = statement.where(h.c.id < before)
        statement = statement.order_by(h.c.id.desc()).limit(limit)
        entries = await self._read("history", statement)
        entries.reverse()
        return entries

    async def changes_since(self, cursor: int, *, limit: int) -> list[HistoryEntry]:
        statement = self._entries.where(_history.c.id > cursor).order_by(_history.c.id).limit(
            limit
        )
        return await self._read("history changes", statement)

    async def last_entry_id(self) -> int:
        def unit(conn: Connection) -> int:
            return int(conn.execute(select(func.coalesce(func.max(_history.c.id), 0))).scalar_one())

        return await self._db.run("last history id", unit, write=False)

    # -- audit

    async def add_audit(self, entry: AuditEntry) -> None:
        statement = _audit.insert().values(
            at=as_utc(entry.at), staff=entry.staff, action=entry.action,
            case_id=entry.case_id, detail=entry.detail,
        )

        def unit(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.run("audit", unit)

    async def audit_log(self, *, case_id: str | None, limit: int) -> list[AuditEntry]:
        statement = select(_audit).order_by(_audit.c.id.desc()).limit(limit)
        if case_id is not None:
            statement = statement.where(_audit.c.case_id == case_id)

        def unit(conn: Connection) -> list[Any]:
            return list(conn.execute(statement))

        return [_audit_entry(row) for row in await self._db.run("audit log", unit, write=False)]


# -- memory ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    id: int
    values: dict[str, Any]


class MemoryHandoffStore:
    """The same over a :class:`MemoryDatabase` (whose ``complete_turn`` adds
    the turns' lines to the same history)."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    # -- cases

    async def create(self, case: HandoffCase, line: HistoryLine) -> tuple[HandoffCase, bool]:
        await _yield()
        db = self._db
        for stored in db.handoff_cases.values():
            if stored.key == case.key and stored.is_open:
                return stored, False
        db.handoff_cases[case.case_id] = case
        db.add_history([line])
        return case, True

    async def get(self, case_id: str) -> HandoffCase | None:
        await _yield()
        return self._db.handoff_cases.get(case_id)

    async def open_for(self, key: ConversationKey) -> HandoffCase | None:
        await _yield()
        for case in self._db.handoff_cases.values():
            if case.key == key and case.is_open:
                return case
        return None

    async def list_open(
        self, *, queues: Sequence[HandoffQueue], include_active: bool
    ) -> list[HandoffCase]:
        await _yield()
        statuses = {HandoffStatus.WAITING}
        if include_active:
            statuses.add(HandoffStatus.ACTIVE)
        found = [
            c for c in self._db.handoff_cases.values() if c.status in statuses and c.queue in queues
        ]
        return sorted(found, key=lambda c: (c.opened_at, c.case_id))

    async def replace(
        self, old: HandoffCase, new: HandoffCase, line: HistoryLine | None = None
    ) -> bool:
        await _yield()
        db = self._db
        stored = db.handoff_cases.get(old.case_id)
        if stored is None or (stored.status, stored.queue, stored.claimed_by) != (
            old.status, old.queue, old.claimed_by
        ):
            return False
        db.handoff_cases[old.case_id] = replace(
            stored, queue=new.queue, status=new.status, claimed_by=new.claimed_by,
            claimed_at=new.claimed_at, closed_at=new.closed_at, closed_by=new.closed_by,
        )
        if line is not None:
            db.add_history([line])
        return True

    async def touch(
        self, case_id: str, *, resident_at: datetime | None = None,
        staff_at: datetime | None = None,
    ) -> HandoffCase | None:
        await _yield()
        case = self._db.handoff_cases.get(case_id)
        if case is None or not case.is_open:
            return None
        if resident_at is not None:
            case = replace(case, last_resident_at=as_utc(resident_at))
        if staff_at is not None:
            case = replace(case, last_staff_at=as_utc(staff_at))
        self._db.handoff_cases[case_id] = case
        return case

    # -- history

    async def append(self, lines: Sequence[HistoryLine]) -> list[HistoryEntry]:
        await _yield()
        ids = self._db.add_history(lines)
        return [self._entry(i) for i in ids]

    async def add_reply(self, line: HistoryLine, message: OutboundMessage) -> HistoryEntry:
        await _yield()
        db = self._db
        delivery_id = db.add_deliveries(line.key.as_str(), [message])[0]
        (entry_id,) = db.add_history([line], delivery_id=delivery_id)
        return self._entry(entry_id)

    def _entry(self, entry_id: int) -> HistoryEntry:
        row = self._db.history[entry_id]
        values = _snapshot({k: v for k, v in row.items() if k != "at"})
        delivery = self._db.deliveries.get(row["delivery_id"]) if row["delivery_id"] else None
        return HistoryEntry(
            entry_id=entry_id,
            key=ConversationKey.parse(values["conversation_key"]),
            at=row["at"],
            author=values["author"],
            kind=values["kind"],
            text=values["text"],
            intent=values["intent"],
            category=values["category"],
            media_url=values["media_url"],
            delivery=delivery_state(
                values["delivery"],
                delivery.status if delivery else None,
                delivery.via if delivery else None,
            ),
            case_id=values["case_id"],
        )

    async def history(
        self, key: ConversationKey, *, limit: int, before: int | None
    ) -> list[HistoryEntry]:
        await _yield()
        wanted = key.as_str()
        ids = [
            i for i, row in self._db.history.items()
            if row["conversation_key"] == wanted and (before is None or i < before)
        ]
        return [self._entry(i) for i in sorted(ids)[-limit:]] if limit > 0 else []

    async def changes_since(self, cursor: int, *, limit: int) -> list[HistoryEntry]:
        await _yield()
        ids = sorted(i for i in self._db.history if i > cursor)[:limit]
        return [self._entry(i) for i in ids]

    async def entries(self, ids: Sequence[int]) -> list[HistoryEntry]:
        await _yield()
        return [self._entry(i) for i in sorted(set(ids)) if i in self._db.history]

    async def last_entry_id(self) -> int:
        await _yield()
        return max(self._db.history, default=0)

    # -- audit

    async def add_audit(self, entry: AuditEntry) -> None:
        await _yield()
        self._db.audit.append(entry)

    async def audit_log(self, *, case_id: str | None, limit: int) -> list[AuditEntry]:
        await _yield()
        found = [e for e in self._db.audit if case_id is None or e.case_id == case_id]
        return list(reversed(found))[:limit]
