"""Running units of work on SQLite: one writer thread, one connection, group commit.

A *unit* is a synchronous function over a SQLAlchemy ``Connection`` (the
body of one port method). On SQLite every unit goes through
:class:`SqliteRunner`: a thread owning one pysqlite connection takes whatever
units have queued up (up to ``max_batch``) and runs them in ONE transaction
(``BEGIN IMMEDIATE`` … ``COMMIT``); a failing unit rolls back alone and only
its caller gets the exception (a unit that fails after writing makes the
batch run again with each unit in its own ``SAVEPOINT``: see
``SqliteRunner._transaction``). The
callers' futures are resolved after the commit, with one
``call_soon_threadsafe`` per batch: nobody hears "stored" before it is.

This costs one thread hop per batch instead of one per statement (aiosqlite),
and one commit per batch instead of one per unit.

The event loop hands units over once per loop iteration, not one by one:
``submit`` buffers them and a ``call_soon`` callback passes the lot to the
thread after the tasks running now have had their turn. So the thread works
while the loop is idle instead of fighting it for the GIL at every SQLite
call (each one releases the GIL; winning it back from a busy thread can take
the whole switch interval), which halved throughput.

Several processes on one file (``minhu serve --workers N``, or replicas on
one host) would otherwise queue for SQLite's write lock in its busy handler,
which sleeps in steps of 1 to 100 ms however soon the lock is free. So each
write transaction is also serialised by an OS lock: ``flock(LOCK_EX)`` on
``<database>.writer-lock``, taken by the runner thread right before
``BEGIN IMMEDIATE`` and released right after ``COMMIT``/``ROLLBACK``; the
kernel wakes a waiter the moment it is released. ``busy_timeout`` stays the
fallback for connections that do not take that lock (migrations, ad-hoc SQL,
other tools). The lock is held only for one batch's transaction, whose units
are synchronous and never wait for anything but SQLite; a process that dies
holding it releases it with its file descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StorageError

__all__ = ["DRIVER_ERRORS", "WRITER_LOCK_SUFFIX", "SqliteRunner", "Unit", "storage_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Unit = Callable[[Connection], T]

DRIVER_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, sqlite3.Error)
try:  # pragma: no cover - asyncpg is a declared dependency
    import asyncpg

    DRIVER_ERRORS = (*DRIVER_ERRORS, asyncpg.PostgresError, asyncpg.InterfaceError)
except ImportError:  # pragma: no cover
    pass


def storage_error(what: str, exc: BaseException) -> BaseException:
    """``exc`` as the caller should see it: driver errors become ``StorageError``."""
    if isinstance(exc, DRIVER_ERRORS):
        error = StorageError(f"database error during {what}: {type(exc).__name__}")
        error.__cause__ = exc
        return error
    return exc


@dataclass(slots=True)
class _Job(Generic[T]):
    what: str
    fn: Unit[T]
    write: bool
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop


# The OS lock file next to the database that serialises writers across processes.
WRITER_LOCK_SUFFIX = ".writer-lock"

_SAVEPOINT = "SAVEPOINT minhu_unit"
_RELEASE = "RELEASE SAVEPOINT minhu_unit"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT minhu_unit"

# An outcome: (job, ok, result or exception).
_Outcome = tuple[_Job[Any], bool, Any]


class SqliteRunner:
    """The one thread (and connection) that runs a SQLite database's units of work.

    The thread starts on the first ``submit`` and stops after ``idle_seconds``
    without work, or on ``close()`` (which finishes what is queued first); a
    later ``submit`` starts it again. ``max_batch=1`` gives each unit a
    transaction of its own.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 512,
        idle_seconds: float = 10.0,
        name: str = "minhu-sqlite",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._engine = engine
        self._max_batch = max_batch
        self._idle = idle_seconds
        self._name = name
        self._queue: queue.SimpleQueue[list[_Job[Any]] | None] = queue.SimpleQueue()
        # Units submitted during the current iteration of each event loop.
        self._buffers: dict[asyncio.AbstractEventLoop, list[_Job[Any]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._lock_path = writer_lock_path(engine)
        self._lock_fd: int | None = None

    @property
    def engine(self) -> Engine:
        """The synchronous engine whose one connection the thread uses."""
        return self._engine

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def running(self) -> bool:
        """Whether the thread is running now (it starts on demand)."""
        return self._thread is not None

    # -- the event loop's side ------------------------------------------------------------

    def submit(self, what: str, fn: Unit[T], *, write: bool = True) -> asyncio.Future[T]:
        """Queue ``fn``; the future resolves after the transaction that ran it commits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(what, fn, write, future, loop)
        buffer = self._buffers.get(loop)
        if buffer is None:
            self._buffers[loop] = [job]
            loop.call_soon(self._flush, loop)
        else:
            buffer.append(job)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = self._buffers.pop(loop, None)
        if jobs:
            self._put(jobs)

    def _put(self, item: list[_Job[Any]] | None) -> None:
        with self._lock:
            self._queue.put(item)
            if self._thread is None and item is not None:
                self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
                self._thread.start()

    async def close(self) -> None:
        """Run what is queued, then stop the thread and close its connection."""
        for loop in list(self._buffers):
            self._flush(loop)
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._queue.put(None)
        while thread.is_alive():  # noqa: ASYNC110 - waiting for a thread, not an event
            await asyncio.sleep(0.002)

    # -- the thread's side ----------------------------------------------------------------

    def _main(self) -> None:
        jobs: deque[_Job[Any]] = deque()
        stop = False  # close() asked: stop as soon as nothing is queued
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self._idle)
                except queue.Empty:
                    if self._stop_if_idle():
                        return
                    continue
                if first is None:
                    stop = True
                else:
                    jobs.extend(first)
                while len(jobs) < self._max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                    else:
                        jobs.extend(more)
                while jobs:
                    n = min(len(jobs), self._max_batch)
                    self._run_batch([jobs.popleft() for _ in range(n)])
                if stop and self._stop_if_idle():
                    return
                # Otherwise keep serving (units queued after close() too).
        except BaseException as exc:  # pragma: no cover - a bug in the runner itself
            log.exception("SQLite runner crashed")
            with self._lock:
                self._disconnect()
                self._thread = None
                outcomes: list[_Outcome] = [
                    (job, False, StorageError(f"SQLite runner failed: {exc!r}")) for job in jobs
                ]
                _deliver(outcomes)
                self._fail_queued(exc)

    def _stop_if_idle(self) -> bool:
        """End the thread unless work is queued (under the lock, so no unit is stranded)."""
        with self._lock:
            if not self._queue.empty():
                return False
            self._disconnect()
            self._thread = None
            return True

    def _fail_queued(self, exc: BaseException) -> None:  # pragma: no cover - see _main
        outcomes: list[_Outcome] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            for job in item or ():
                outcomes.append((job, False, StorageError(f"SQLite runner failed: {exc!r}")))
        _deliver(outcomes)

    def _connect(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
        if self._lock_fd is None and self._lock_path is not None:
            try:
                self._lock_fd = os.open(
                    self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
                )
            except OSError as exc:
                # Not fatal: SQLite's busy_timeout still serialises the writers.
                log.warning("no writer lock file %s (%s); relying on busy_timeout",
                            self._lock_path, exc)
                self._lock_path = None
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # also releases the flock, if held

    def _lock_writers(self) -> bool:
        """Take the cross-process writer lock (blocking); False when there is none."""
        fd = self._lock_fd
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # a filesystem without flock: busy_timeout alone, as before
            log.warning("cannot lock %s (%s); relying on busy_timeout", self._lock_path, exc)
            self._lock_path, self._lock_fd = None, None
            with contextlib.suppress(OSError):
                os.close(fd)
            return False
        return True

    def _unlock_writers(self) -> None:
        fd = self._lock_fd
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _run_batch(self, batch: list[_Job[Any]]) -> None:
        pending = deque(job for job in batch if not job.future.cancelled())
        savepoints = False  # first without: see _transaction
        outcomes: list[_Outcome] = []
        while pending:
            savepoints = self._run_transaction(pending, savepoints, outcomes) or savepoints
        _deliver(outcomes)

    def _run_transaction(
        self, pending: deque[_Job[Any]], savepoints: bool, outcomes: list[_Outcome]
    ) -> bool:
        """One transaction over ``pending`` under the writer lock; True: run the
        units it gave back again, with savepoints."""
        locked = False
        try:
            self._connect()
            locked = self._lock_writers()
        except BaseException as exc:
            outcomes.extend((job, False, storage_error(job.what, exc)) for job in pending)
            pending.clear()
            self._disconnect()
            return False
        try:
            return self._transaction(pending, savepoints, outcomes)
        finally:
            if locked:
                self._unlock_writers()

    def _transaction(
        self, pending: deque[_Job[Any]], savepoints: bool, outcomes: list[_Outcome]
    ) -> bool:
        """Run units from ``pending`` in one transaction until it is empty or broken.

        A failing unit must leave no trace while the others commit. Most
        failures write nothing (a lost optimistic lock is found by an UPDATE
        that matched no row; a failing statement is undone by SQLite itself),
        so the units first run without savepoints, which cost two statements
        each: a unit that fails without having changed a row
        (``total_changes`` is where it was; units run no DDL, which it does
        not count) simply fails. Should one fail
        after changing rows, or SQLite roll back the transaction, the whole
        transaction is rolled back and every unit of it is given back to
        ``pending`` (returns True) to run again, each write unit in its own
        SAVEPOINT this time. Units are functions of the connection only, so
        running one again after a rollback is safe; nobody has heard its
        outcome yet.

        With savepoints, a unit's failure rolls back to its savepoint; when
        SQLite itself rolled back the whole transaction (some errors do, e.g. a
        full disk), every unit that had succeeded in it fails too, and the
        rest of ``pending`` is left for a new transaction.
        """
        try:
            conn = self._connect()
            if conn.in_transaction():  # never expected; do not inherit anything
                conn.rollback()
            transaction = conn.begin()
        except BaseException as exc:
            # Cannot even begin (file unusable, locked past busy_timeout): fail them all.
            outcomes.extend((job, False, storage_error(job.what, exc)) for job in pending)
            pending.clear()
            self._disconnect()
            return False
        done: list[tuple[_Job[Any], Any]] = []
        failed: list[_Outcome] = []
        ran: list[_Job[Any]] = []  # in order, to give them back as they came
        rollback_all = False
        lost_cause: BaseException | None = None
        # SAVEPOINTs straight on the driver: SQLAlchemy's begin_nested() compiles
        # a new SAVEPOINT clause each time, which costs more than most units.
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        while pending:
            job = pending.popleft()
            savepoint = savepoints and job.write
            changes = dbapi.total_changes
            try:
                if savepoint:
                    dbapi.execute(_SAVEPOINT)
                value = job.fn(conn)
                if savepoint:
                    dbapi.execute(_RELEASE)
            except BaseException as exc:
                outcome: _Outcome = (job, False, storage_error(job.what, exc))
                try:
                    if savepoint:
                        dbapi.execute(_ROLLBACK_TO)
                        dbapi.execute(_RELEASE)
                    elif job.write and (
                        not savepoints
                        and dbapi.total_changes != changes
                    ):
                        # Changed rows, then failed: start over with savepoints.
                        self._rollback(conn, transaction)
                        pending.appendleft(job)
                        pending.extendleft(reversed(ran))
                        return True
                    alive = bool(getattr(dbapi, "in_transaction", True))
                except BaseException as rollback_error:
                    alive, exc = False, rollback_error
                if not alive:
                    if not savepoints:
                        # SQLite rolled it all back: run them all again, with savepoints.
                        self._rollback(conn, transaction)
                        pending.appendleft(job)
                        pending.extendleft(reversed(ran))
                        return True
                    outcomes.append(outcome)
                    rollback_all, lost_cause = True, exc
                    break
                failed.append(outcome)
            else:
                done.append((job, value))
            ran.append(job)
        outcomes.extend(failed)
        if rollback_all:
            outcomes.extend((job, False, _lost(job.what, lost_cause)) for job, _ in done)
            self._rollback(conn, transaction)
            return False
        try:
            transaction.commit()
        except BaseException as exc:
            outcomes.extend((job, False, _commit_failed(job.what, exc)) for job, _ in done)
            self._rollback(conn, transaction)
            return False
        outcomes.extend((job, True, value) for job, value in done)
        return False

    def _rollback(self, conn: Connection, transaction: Any) -> None:
        # Also when no longer active (after a failed commit): that closes it out
        # in SQLAlchemy, which then may not roll back the driver: do it here.
        try:
            transaction.rollback()
            dbapi = conn.connection.dbapi_connection
            if getattr(dbapi, "in_transaction", False):
                dbapi.rollback()  # type: ignore[union-attr]
        except Exception:
            self._disconnect()  # in an unknown state: start over with a new connection


def writer_lock_path(engine: Engine) -> str | None:
    """``<database>.writer-lock`` for a SQLite file; None for memory/URI databases."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or engine.url.query.get("uri"):
        return None
    return os.path.abspath(os.path.expanduser(database)) + WRITER_LOCK_SUFFIX


def _lost(what: str, cause: BaseException | None) -> StorageError:
    error = StorageError(f"database error during {what}: the transaction was rolled back")
    error.__cause__ = cause
    return error


def _commit_failed(what: str, cause: BaseException) -> StorageError:
    error = StorageError(f"database error during {what}: commit failed ({type(cause).__name__})")
    error.__cause__ = cause
    return error


def _deliver(outcomes: list[_Outcome]) -> None:
    """Resolve the futures: one ``call_soon_threadsafe`` per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[_Outcome]) -> None:
    for job, ok, value in items:
        future = job.future
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
