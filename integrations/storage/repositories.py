"""SQL implementations of the storage ports (SQLite and PostgreSQL, same behaviour).

Each port method is one short transaction: a *unit of work*, written as ONE
synchronous function over a SQLAlchemy ``Connection`` that commits on success
and rolls back on any error, built from SQLAlchemy Core statements prepared
once per repository: the webhook's hot path (``accept``, ``load``,
``complete_turn``) never loads ORM objects. ``Database.run`` runs a unit:

- PostgreSQL: in a transaction of its own on the asyncpg pool (``run_sync``);
- SQLite: on the database's writer thread (``runner.SqliteRunner``), which
  batches the units queued meanwhile into one ``BEGIN IMMEDIATE`` transaction
  (each in a SAVEPOINT) and commits once: one thread hop per unit and one
  commit per batch, instead of a thread hop per statement.

Every SQLAlchemy or driver error leaves as ``bot.errors.StorageError`` with
the original as ``__cause__``; a lost optimistic lock is ``ConcurrentUpdate``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import ConcurrentUpdate, StorageError
from bot.ports import Acceptance, PendingDelivery, TurnRecord
from bot.state import ConversationState, ReplyWindow, window_allowance
from bot.types import ConversationKey, InboundMessage, OutboundMessage
from integrations.storage.codec import (
    as_utc,
    inbound_from_json,
    inbound_to_json,
    outbound_from_json,
    outbound_to_json,
    utc_now,
)
from integrations.storage.engine import sqlite_sync_engine
from integrations.storage.handoff_models import HistoryRow, history_rows
from integrations.storage.models import (
    Conversation,
    Delivery,
    DeliveryStatus,
    InboundRecord,
    InboundStatus,
    ReplyWindowRow,
    Token,
)
from integrations.storage.prepared import Prepared
from integrations.storage.runner import DRIVER_ERRORS, SqliteRunner, Unit

__all__ = [
    "MAX_RECOVERY_ATTEMPTS",
    "Database",
    "DatabaseHealth",
    "SqlConversationStore",
    "SqlDeliveryQueue",
    "SqlInboundJournal",
    "SqlReplyWindows",
    "SqlTokenStore",
]

Clock = Callable[[], datetime]
T = TypeVar("T")

# A message whose processing was started this many times (the first run plus
# recoveries) and never finished is given up on: status "failed".
MAX_RECOVERY_ATTEMPTS = 5

_conversations = cast(Table, Conversation.__table__)
_inbound = cast(Table, InboundRecord.__table__)
_deliveries = cast(Table, Delivery.__table__)
_windows = cast(Table, ReplyWindowRow.__table__)
_tokens = cast(Table, Token.__table__)
_history = cast(Table, HistoryRow.__table__)


def _exec(
    conn: Connection, statement: Prepared, params: dict[str, Any] | list[dict[str, Any]]
) -> Any:
    """Execute with parameters named ``b_*`` in the statement (bind names never clash
    with column names), given here without the prefix."""
    return statement.execute(conn, params)


def _picked(db: Database, candidates: Select[Any]) -> Select[Any]:
    """The ids chosen by ``candidates``, evaluated exactly once per statement.

    On PostgreSQL the rows are locked with SKIP LOCKED, so that concurrent
    claimers take different rows, inside a MATERIALIZED CTE: as a plain
    ``IN (subquery)`` the planner may re-run the subquery per row, and with
    SKIP LOCKED each run finds fresh rows, overrunning the LIMIT. On SQLite
    the write lock already serialises claimers.
    """
    if db.is_sqlite:
        return select(candidates.subquery().c.id)
    picked = candidates.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
    return select(picked.c.id)


class Database:
    """The engine plus the unit of work every repository uses.

    On SQLite, ``engine`` (aiosqlite) is left to migrations and ad-hoc SQL;
    the units run on a synchronous pysqlite engine on the same file, in the
    runner's thread. ``group_commit`` (default on) lets that thread commit
    the units queued meanwhile together; off, each unit commits alone.
    ``group_commit`` has no effect on PostgreSQL.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock = utc_now,
        group_commit: bool | None = None,
        max_batch: int = 512,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.dialect = engine.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database dialect {self.dialect!r}")
        self.runner: SqliteRunner | None = None
        if self.is_sqlite:
            batch = max_batch if group_commit is None or group_commit else 1
            self.runner = SqliteRunner(sqlite_sync_engine(engine), max_batch=batch)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_*``."""
        if self.is_sqlite:
            return sqlite_dialect.insert(table)
        return pg_dialect.insert(table)

    def now(self) -> datetime:
        return as_utc(self.clock())

    async def run(self, what: str, unit: Unit[T], *, write: bool = True) -> T:
        """Run ``unit`` as one transaction: committed when it returns, rolled back
        when it raises. ``write=False`` marks a unit that only reads."""
        if self.runner is not None:
            return await self.runner.submit(what, unit, write=write)
        try:
            async with self.engine.begin() as conn:
                return await conn.run_sync(unit)
        except DRIVER_ERRORS as exc:
            raise StorageError(f"database error during {what}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        """Finish the queued units and stop the SQLite thread (the engine stays usable)."""
        if self.runner is not None:
            await self.runner.close()

    async def dispose(self) -> None:
        await self.close()
        await self.engine.dispose()


# -- the inbound journal ----------------------------------------------------------------


class SqlInboundJournal:
    """Dedup, audit and crash recovery of inbound messages.

    ``accept`` is one ``INSERT ... ON CONFLICT DO NOTHING``: whichever insert
    wins the unique (channel, account, message_id) is the one ``new=True``,
    across connections, engines and replicas. (On SQLite, concurrent accepts
    share a transaction through the database's group commit; each caller
    still gets its own answer, after the commit that made its message durable.)
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        t = _inbound
        self._insert = Prepared(
            db.insert(t)
            .values(
                channel=bindparam("b_channel"),
                account=bindparam("b_account"),
                message_id=bindparam("b_message_id"),
                conversation_key=bindparam("b_conversation_key"),
                kind=bindparam("b_kind"),
                message=bindparam("b_message"),
                status=InboundStatus.ACCEPTED,
                lease_owner=bindparam("b_lease_owner"),
                lease_until=bindparam("b_lease_until"),
                attempts=1,
                received_at=bindparam("b_received_at"),
            )
            .on_conflict_do_nothing(index_elements=[t.c.channel, t.c.account, t.c.message_id])
        )
        self._lookup = Prepared(
            select(t.c.status, t.c.passive_reply).where(
                t.c.channel == bindparam("b_channel"),
                t.c.account == bindparam("b_account"),
                t.c.message_id == bindparam("b_message_id"),
            )
        )
        c = _conversations
        self._state = Prepared(
            select(c.c.data, c.c.version, c.c.last_active_at).where(
                c.c.key == bindparam("b_conversation_key")
            )
        )
        self._give_up = Prepared(
            update(t)
            .where(
                t.c.status == InboundStatus.ACCEPTED,
                t.c.lease_until <= bindparam("b_now"),
                t.c.attempts >= MAX_RECOVERY_ATTEMPTS,
            )
            .values(
                status=InboundStatus.FAILED,
                lease_owner=None,
                lease_until=None,
                finished_at=bindparam("b_now"),
            )
        )
        cand = t.alias("candidate")
        candidates = (
            select(cand.c.id)
            .where(
                cand.c.status == InboundStatus.ACCEPTED, cand.c.lease_until <= bindparam("b_now")
            )
            .order_by(cand.c.id)
            .limit(bindparam("b_limit"))
        )
        self._claim = Prepared(
            update(t)
            .where(
                t.c.id.in_(_picked(db, candidates)),
                t.c.status == InboundStatus.ACCEPTED,
                t.c.lease_until <= bindparam("b_now"),
            )
            .values(
                lease_owner=bindparam("b_owner"),
                lease_until=bindparam("b_lease_until"),
                attempts=t.c.attempts + 1,
            )
            .returning(t.c.id, t.c.message)
        )

    def _params(self, message: InboundMessage, owner: str, lease_seconds: float) -> dict[str, Any]:
        key = message.key
        return {
            "channel": key.channel.value,
            "account": key.account,
            "message_id": message.message_id,
            "conversation_key": key.as_str(),
            "kind": message.kind.value,
            "message": inbound_to_json(message),
            "lease_owner": owner,
            "lease_until": self._db.now() + timedelta(seconds=lease_seconds),
            "received_at": as_utc(message.received_at),
        }

    async def accept(
        self, message: InboundMessage, *, owner: str, lease_seconds: float
    ) -> Acceptance:
        params = self._params(message, owner, lease_seconds)

        def unit(conn: Connection) -> tuple[bool, Any]:
            if _exec(conn, self._insert, params).rowcount == 1:
                # The conversation as it stands now, read in the same
                # transaction: the turn starts from it instead of loading.
                return True, _exec(conn, self._state, params).first()
            return False, _exec(conn, self._lookup, params).first()

        new, row = await self._db.run("accept", unit)
        if new:
            key = message.key
            if row is None:
                return Acceptance(new=True, state=ConversationState(key=key))
            return Acceptance(new=True, state=ConversationState.from_json(
                key, row.data, version=row.version, last_active_at=row.last_active_at
            ))
        if row is None or row.status != InboundStatus.FINISHED or row.passive_reply is None:
            return Acceptance(new=False)
        return Acceptance(new=False, reply=outbound_from_json(row.passive_reply))

    async def claim_unfinished(
        self, *, owner: str, lease_seconds: float, limit: int
    ) -> list[InboundMessage]:
        now = self._db.now()
        params = {
            "now": now,
            "limit": limit,
            "owner": owner,
            "lease_until": now + timedelta(seconds=lease_seconds),
        }

        def unit(conn: Connection) -> list[Any]:
            _exec(conn, self._give_up, {"now": now})
            return list(_exec(conn, self._claim, params))

        rows = await self._db.run("claim_unfinished", unit)
        rows.sort(key=lambda row: row.id)
        return [inbound_from_json(row.message) for row in rows]


# -- conversations ----------------------------------------------------------------------


def _window_for(message: InboundMessage) -> tuple[datetime, datetime, int] | None:
    """(opened_at, expires_at, quota) of the window ``message`` opens, by the
    core's rule (``bot.state.window_allowance``); None when it opens none."""
    allowance = window_allowance(message)
    if allowance is None:
        return None
    length, quota = allowance
    received = as_utc(message.received_at)
    return received, received + length, quota


def _open_window_statement(db: Database) -> Insert:
    """Upsert of the reply window with ReplyWindow.open_for's rule, in one statement.

    A new action resets the window unless the stored one is still open at
    the message's time and lasts longer (a message window outliving a click's).
    """
    w = _windows
    ins = db.insert(w).values(
        conversation_key=bindparam("b_window_key"),
        opened_at=bindparam("b_window_opened_at"),
        expires_at=bindparam("b_window_expires_at"),
        quota=bindparam("b_window_quota"),
        used=0,
    )
    excluded = ins.excluded
    keep = and_(
        w.c.expires_at > excluded.opened_at,
        w.c.used < w.c.quota,
        w.c.expires_at > excluded.expires_at,
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[w.c.conversation_key],
        set_={
            "opened_at": excluded.opened_at,
            "expires_at": excluded.expires_at,
            "quota": excluded.quota,
            "used": 0,
        },
        where=not_(keep),
    )
    return cast(Insert, stmt)


def _window_params(message: InboundMessage) -> dict[str, Any] | None:
    window = _window_for(message)
    if window is None:
        return None
    opened, expires, quota = window
    return {
        "window_key": message.key.as_str(),
        "window_opened_at": opened,
        "window_expires_at": expires,
        "window_quota": quota,
    }


def _delivery_insert(db: Database) -> Insert:
    stmt = db.insert(_deliveries).values(
        conversation_key=bindparam("b_conversation_key"),
        message=bindparam("b_message"),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=bindparam("b_now"),
        created_at=bindparam("b_now"),
    )
    return cast(Insert, stmt)


_HISTORY_COLUMNS = (
    "conversation_key", "at", "author", "kind", "text", "intent", "category", "media_url",
    "case_id", "delivery", "delivery_id", "source",
)


class SqlConversationStore:
    """Conversation state with an optimistic lock, and the turn's atomic commit."""

    def __init__(self, db: Database) -> None:
        self._db = db
        c = _conversations
        i = _inbound
        self._load = Prepared(
            select(c.c.data, c.c.version, c.c.last_active_at).where(c.c.key == bindparam("b_key"))
        )
        self._create = Prepared(
            db.insert(c)
            .values(
                key=bindparam("b_key"),
                data=bindparam("b_data"),
                version=1,
                last_active_at=bindparam("b_last_active_at"),
                created_at=bindparam("b_now"),
                updated_at=bindparam("b_now"),
            )
            .on_conflict_do_nothing(index_elements=[c.c.key])
        )
        self._save = Prepared(
            update(c)
            .where(c.c.key == bindparam("b_key"), c.c.version == bindparam("b_expected_version"))
            .values(
                data=bindparam("b_data"),
                version=c.c.version + 1,
                last_active_at=bindparam("b_last_active_at"),
                updated_at=bindparam("b_now"),
            )
        )
        finished: dict[str, Any] = {
            "status": InboundStatus.FINISHED,
            "lease_owner": None,
            "lease_until": None,
            "intent_name": bindparam("b_intent_name"),
            "intent_confidence": bindparam("b_intent_confidence"),
            "category": bindparam("b_category"),
            "handler": bindparam("b_handler"),
            "passive_reply": bindparam("b_passive_reply"),
            "finished_at": bindparam("b_now"),
        }
        self._finish = Prepared(
            update(i)
            .where(
                i.c.channel == bindparam("b_channel"),
                i.c.account == bindparam("b_account"),
                i.c.message_id == bindparam("b_message_id"),
            )
            .values(**finished)
        )
        # A turn for a message the journal never saw (a direct call): record it finished.
        self._insert_finished = Prepared(
            db.insert(i)
            .values(
                channel=bindparam("b_channel"),
                account=bindparam("b_account"),
                message_id=bindparam("b_message_id"),
                conversation_key=bindparam("b_message_key"),
                kind=bindparam("b_kind"),
                message=bindparam("b_message"),
                attempts=1,
                received_at=bindparam("b_received_at"),
                **finished,
            )
            .on_conflict_do_nothing(index_elements=[i.c.channel, i.c.account, i.c.message_id])
        )
        self._enqueue = Prepared(_delivery_insert(db))
        self._open_window = Prepared(_open_window_statement(db))
        h = _history
        self._record_history = Prepared(
            db.insert(h)
            .values(**{name: bindparam(f"b_{name}") for name in _HISTORY_COLUMNS})
            .on_conflict_do_nothing(index_elements=[h.c.source])
        )

    async def load(self, key: ConversationKey) -> ConversationState:
        params = {"key": key.as_str()}

        def unit(conn: Connection) -> Any:
            return _exec(conn, self._load, params).first()

        row = await self._db.run("load", unit, write=False)
        if row is None:
            return ConversationState(key=key)
        return ConversationState.from_json(
            key, row.data, version=row.version, last_active_at=row.last_active_at
        )

    async def complete_turn(self, record: TurnRecord) -> None:
        state = record.state
        message = record.message
        now = self._db.now()
        last_active = state.last_active_at or message.received_at
        intent = record.intent
        params: dict[str, Any] = {
            "key": state.key.as_str(),
            "data": state.data_json(),
            "last_active_at": as_utc(last_active),
            "expected_version": state.version,
            "now": now,
            "channel": message.key.channel.value,
            "account": message.key.account,
            "message_id": message.message_id,
            "intent_name": intent.name if intent else None,
            "intent_confidence": intent.confidence if intent else None,
            "category": intent.category if intent else None,
            "handler": record.handler,
            "passive_reply": (
                outbound_to_json(record.passive_reply) if record.passive_reply else None
            ),
        }
        window = _window_params(message)
        pushes = [
            {"conversation_key": params["key"], "message": outbound_to_json(push), "now": now}
            for push in record.pushes
        ]
        expected = state.version
        history = history_rows(record.history)

        def unit(conn: Connection) -> None:
            result = _exec(conn, self._create if expected == 0 else self._save, params)
            if result.rowcount != 1:
                raise ConcurrentUpdate(
                    f"conversation {params['key']} changed since version {expected}"
                )
            if _exec(conn, self._finish, params).rowcount == 0:
                # A turn for a message the journal never saw: record it finished.
                _exec(
                    conn,
                    self._insert_finished,
                    {
                        **params,
                        "message_key": message.key.as_str(),
                        "kind": message.kind.value,
                        "message": inbound_to_json(message),
                        "received_at": as_utc(message.received_at),
                    },
                )
            if pushes:
                _exec(conn, self._enqueue, pushes)
            if history:
                _exec(conn, self._record_history, history)
            if window is not None:
                _exec(conn, self._open_window, window)

        await self._db.run("complete_turn", unit)
        state.version += 1
        state.last_active_at = as_utc(last_active)


# -- the outbox -------------------------------------------------------------------------


class SqlDeliveryQueue:
    """Pending pushes; at most one in flight per conversation, oldest first."""

    def __init__(self, db: Database) -> None:
        self._db = db
        d = _deliveries
        self._enqueue = Prepared(_delivery_insert(db))
        cand = d.alias("candidate")
        older = d.alias("older")
        oldest_of_conversation = (
            select(func.min(older.c.id))
            .where(
                older.c.conversation_key == cand.c.conversation_key,
                older.c.status == DeliveryStatus.PENDING,
            )
            .scalar_subquery()
        )
        due = and_(
            cand.c.status == DeliveryStatus.PENDING,
            cand.c.next_attempt_at <= bindparam("b_now"),
            or_(cand.c.lease_until.is_(None), cand.c.lease_until <= bindparam("b_now")),
            cand.c.id == oldest_of_conversation,
        )
        candidates = select(cand.c.id).where(due).order_by(cand.c.id).limit(bindparam("b_limit"))
        self._claim = Prepared(
            update(d)
            .where(
                d.c.id.in_(_picked(db, candidates)),
                d.c.status == DeliveryStatus.PENDING,
                or_(d.c.lease_until.is_(None), d.c.lease_until <= bindparam("b_now")),
            )
            .values(lease_owner=bindparam("b_owner"), lease_until=bindparam("b_lease_until"))
            .returning(d.c.id, d.c.conversation_key, d.c.message, d.c.attempts, d.c.created_at)
        )
        self._sent = Prepared(
            update(d)
            .where(d.c.id == bindparam("b_delivery_id"))
            .values(
                status=DeliveryStatus.SENT,
                via=bindparam("b_via"),
                attempts=d.c.attempts + 1,
                lease_owner=None,
                lease_until=None,
                sent_at=bindparam("b_now"),
            )
        )
        self._retry = Prepared(
            update(d)
            .where(d.c.id == bindparam("b_delivery_id"))
            .values(
                status=DeliveryStatus.PENDING,
                attempts=d.c.attempts + 1,
                next_attempt_at=bindparam("b_retry_at"),
                last_error=bindparam("b_error"),
                lease_owner=None,
                lease_until=None,
            )
        )
        self._dead = Prepared(
            update(d)
            .where(d.c.id == bindparam("b_delivery_id"))
            .values(
                status=DeliveryStatus.DEAD,
                attempts=d.c.attempts + 1,
                last_error=bindparam("b_error"),
                lease_owner=None,
                lease_until=None,
            )
        )

    async def enqueue(self, key: ConversationKey, messages: Sequence[OutboundMessage]) -> None:
        if not messages:
            return
        now = self._db.now()
        rows = [
            {"conversation_key": key.as_str(), "message": outbound_to_json(m), "now": now}
            for m in messages
        ]

        def unit(conn: Connection) -> None:
            _exec(conn, self._enqueue, rows)

        await self._db.run("enqueue", unit)

    async def claim_due(
        self, *, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[PendingDelivery]:
        now = as_utc(now)
        params = {
            "now": now,
            "limit": limit,
            "owner": owner,
            "lease_until": now + timedelta(seconds=lease_seconds),
        }

        def unit(conn: Connection) -> list[Any]:
            return list(_exec(conn, self._claim, params))

        rows = await self._db.run("claim_due", unit)
        rows.sort(key=lambda row: row.id)
        return [
            PendingDelivery(
                delivery_id=row.id,
                key=ConversationKey.parse(row.conversation_key),
                message=outbound_from_json(row.message),
                attempts=row.attempts,
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def mark_sent(self, delivery_id: int, *, via: str) -> None:
        params = {"delivery_id": delivery_id, "via": via, "now": self._db.now()}

        def unit(conn: Connection) -> None:
            _exec(conn, self._sent, params)

        await self._db.run("mark_sent", unit)

    async def mark_failed(self, delivery_id: int, *, error: str, retry_at: datetime | None) -> None:
        if retry_at is None:
            statement, params = self._dead, {"delivery_id": delivery_id, "error": error}
        else:
            statement = self._retry
            params = {"delivery_id": delivery_id, "error": error, "retry_at": as_utc(retry_at)}

        def unit(conn: Connection) -> None:
            _exec(conn, statement, params)

        await self._db.run("mark_failed", unit)


# -- reply windows ----------------------------------------------------------------------


class SqlReplyWindows:
    """The channel's push allowance; reserve/release are single atomic UPDATEs."""

    def __init__(self, db: Database) -> None:
        self._db = db
        w = _windows
        self._open = Prepared(_open_window_statement(db))
        self._reserve = Prepared(
            update(w)
            .where(
                w.c.conversation_key == bindparam("b_key"),
                w.c.expires_at > bindparam("b_now"),
                w.c.used < w.c.quota,
            )
            .values(used=w.c.used + 1)
        )
        self._release = Prepared(
            update(w)
            .where(w.c.conversation_key == bindparam("b_key"), w.c.used > 0)
            .values(used=w.c.used - 1)
        )
        self._current = Prepared(
            select(w.c.opened_at, w.c.expires_at, w.c.quota, w.c.used).where(
                w.c.conversation_key == bindparam("b_key")
            )
        )

    async def open(self, message: InboundMessage) -> None:
        params = _window_params(message)
        if params is None:
            return

        def unit(conn: Connection) -> None:
            _exec(conn, self._open, params)

        await self._db.run("open reply window", unit)

    async def reserve(self, key: ConversationKey, now: datetime) -> bool:
        params = {"key": key.as_str(), "now": as_utc(now)}

        def unit(conn: Connection) -> bool:
            return bool(_exec(conn, self._reserve, params).rowcount == 1)

        return await self._db.run("reserve", unit)

    async def release(self, key: ConversationKey) -> None:
        params = {"key": key.as_str()}

        def unit(conn: Connection) -> None:
            _exec(conn, self._release, params)

        await self._db.run("release", unit)

    async def current(self, key: ConversationKey) -> ReplyWindow:
        params = {"key": key.as_str()}

        def unit(conn: Connection) -> Any:
            return _exec(conn, self._current, params).first()

        row = await self._db.run("current reply window", unit, write=False)
        if row is None:
            return ReplyWindow()
        return ReplyWindow(
            opened_at=row.opened_at, expires_at=row.expires_at, quota=row.quota, used=row.used
        )


# -- tokens -----------------------------------------------------------------------------


class SqlTokenStore:
    """Compare-and-set token storage shared by all replicas."""

    def __init__(self, db: Database) -> None:
        self._db = db
        t = _tokens
        self._get = Prepared(
            select(t.c.value, t.c.expires_at).where(t.c.name == bindparam("b_name"))
        )
        self._create = Prepared(
            db.insert(t)
            .values(
                name=bindparam("b_name"),
                value=bindparam("b_value"),
                expires_at=bindparam("b_expires_at"),
                updated_at=bindparam("b_now"),
            )
            .on_conflict_do_nothing(index_elements=[t.c.name])
        )
        self._swap = Prepared(
            update(t)
            .where(t.c.name == bindparam("b_name"), t.c.value == bindparam("b_previous"))
            .values(
                value=bindparam("b_value"),
                expires_at=bindparam("b_expires_at"),
                updated_at=bindparam("b_now"),
            )
        )

    async def get(self, name: str) -> tuple[str, datetime] | None:
        params = {"name": name}

        def unit(conn: Connection) -> Any:
            return _exec(conn, self._get, params).first()

        row = await self._db.run("get token", unit, write=False)
        if row is None:
            return None
        return row.value, row.expires_at

    async def replace(
        self, name: str, token: str, expires_at: datetime, *, previous: str | None
    ) -> bool:
        params = {
            "name": name,
            "value": token,
            "expires_at": as_utc(expires_at),
            "previous": previous,
            "now": self._db.now(),
        }
        statement = self._create if previous is None else self._swap

        def unit(conn: Connection) -> bool:
            return bool(_exec(conn, statement, params).rowcount == 1)

        return await self._db.run("replace token", unit)


# -- health -----------------------------------------------------------------------------


class DatabaseHealth:
    """``HealthCheck`` named "database": a trivial query answered within ``timeout`` seconds.

    On SQLite the query reads the schema through the database's runner, so
    the check fails when the file is unusable (missing directory, not a
    database, locked by another process beyond the timeout) or the runner is
    stuck; on PostgreSQL it is a ``SELECT 1`` on a pooled connection.
    """

    name = "database"

    def __init__(self, db: Database | AsyncEngine, *, timeout: float = 2.0) -> None:
        self._db = db if isinstance(db, Database) else None
        self._engine = db.engine if isinstance(db, Database) else db
        self._timeout = timeout

    async def check(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                if self._db is not None and self._db.runner is not None:
                    await self._db.run("health check", _read_schema, write=False)
                else:
                    async with self._engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
        except TimeoutError as exc:
            raise StorageError(f"database did not answer within {self._timeout:g}s") from exc
        except StorageError as exc:
            cause = exc.__cause__ or exc
            raise StorageError(f"database unreachable: {type(cause).__name__}") from cause
        except DRIVER_ERRORS as exc:
            raise StorageError(f"database unreachable: {type(exc).__name__}") from exc


def _read_schema(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
