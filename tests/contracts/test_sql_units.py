"""Units of work on the SQL backends: isolation within a group commit, errors, lifecycle.

On SQLite the units run on one writer thread that commits whatever has queued
up in one transaction, each unit in a SAVEPOINT (``integrations.storage.runner``);
on PostgreSQL each unit is a transaction of its own. Callers must not be able
to tell the difference.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Table, event, insert, text
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StorageError
from bot.types import Channel, ConversationKey, InboundKind, InboundMessage
from integrations.storage import Storage, build_storage, sqlite_sync_engine, upgrade
from integrations.storage.models import Token
from integrations.storage.repositories import Database
from integrations.storage.runner import WRITER_LOCK_SUFFIX

from .conftest import Backend

_tokens: Table = Token.__table__  # type: ignore[assignment]


def _database(storage: Storage) -> Database:
    assert storage.database is not None
    return storage.database


def _insert_token(name: str) -> Any:
    when = datetime(2030, 1, 1, tzinfo=UTC)

    def unit(conn: Connection) -> str:
        conn.execute(insert(_tokens).values(name=name, value="v", expires_at=when, updated_at=when))
        return name

    return unit


async def _token_names(storage: Storage) -> list[str]:
    assert storage.engine is not None
    async with storage.engine.connect() as conn:
        rows = await conn.execute(text("SELECT name FROM tokens ORDER BY name"))
        return [row.name for row in rows]


@pytest.fixture
def sql_backend(backend: Backend) -> Backend:
    if not backend.is_sql:
        pytest.skip("SQL backends only")
    return backend


async def test_a_failing_unit_rolls_back_alone(sql_backend: Backend) -> None:
    storage = sql_backend.replica()
    db = _database(storage)

    def fails_after_writing(conn: Connection) -> None:
        _insert_token("doomed")(conn)
        raise RuntimeError("the unit changed its mind")

    def driver_error(conn: Connection) -> None:
        _insert_token("also-doomed")(conn)
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    # Committed before the rest: on PostgreSQL the units below run concurrently,
    # so a duplicate of one of them could win the race and fail the original.
    await db.run("seed", _insert_token("z"))
    results = await asyncio.gather(
        db.run("first", _insert_token("a")),
        db.run("fails", fails_after_writing),
        db.run("second", _insert_token("b")),
        db.run("driver", driver_error),
        db.run("duplicate", _insert_token("z")),  # the unique name: a driver error too
        db.run("third", _insert_token("c")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "b" and results[5] == "c"
    assert isinstance(results[1], RuntimeError)
    for failed in (results[3], results[4]):
        assert isinstance(failed, StorageError)
        assert isinstance(failed.__cause__, SQLAlchemyError)
    assert await _token_names(storage) == ["a", "b", "c", "z"]


async def test_sqlite_units_run_without_savepoints_unless_one_fails_after_writing(
    tmp_path: Path,
) -> None:
    """A unit that fails before writing anything (a lost optimistic lock) costs the
    batch nothing; one that fails after writing makes the batch run again, in
    order, each unit in a savepoint, so that only that unit's writes are undone."""
    storage = build_storage(f"sqlite+aiosqlite:///{tmp_path / 'sp.db'}")
    await storage.migrate()
    db = _database(storage)
    assert db.runner is not None
    statements: list[str] = []

    @event.listens_for(db.runner.engine, "connect")
    def _trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    calls: list[str] = []

    def counted(name: str, unit: Any) -> Any:
        def run(conn: Connection) -> Any:
            calls.append(name)
            return unit(conn)

        return run

    def clean_failure(conn: Connection) -> None:
        conn.execute(text("UPDATE tokens SET value = 'x' WHERE name = 'nobody'"))
        raise RuntimeError("lost the optimistic lock")

    def dirty_failure(conn: Connection) -> None:
        _insert_token("doomed")(conn)
        raise RuntimeError("changed its mind after writing")

    def read_b(conn: Connection) -> list[str]:
        return [r.name for r in conn.execute(text("SELECT name FROM tokens WHERE name = 'b'"))]

    try:
        results = await asyncio.gather(
            db.run("a", counted("a", _insert_token("a"))),
            db.run("clean", counted("clean", clean_failure)),
            db.run("b", counted("b", _insert_token("b"))),
            return_exceptions=True,
        )
        assert results[0] == "a" and results[2] == "b"
        assert isinstance(results[1], RuntimeError)
        assert calls == ["a", "clean", "b"]  # each ran once
        assert not any("SAVEPOINT" in s for s in statements)

        calls.clear()
        statements.clear()
        again = await asyncio.gather(
            db.run("c", counted("c", _insert_token("c"))),
            db.run("dirty", counted("dirty", dirty_failure)),
            db.run("read b", counted("read b", read_b), write=False),
            db.run("d", counted("d", _insert_token("d"))),
            return_exceptions=True,
        )
        assert again[0] == "c" and again[2] == ["b"] and again[3] == "d"
        assert isinstance(again[1], RuntimeError)
        # Once without savepoints up to the failure, then all again with them.
        assert calls == ["c", "dirty", "c", "dirty", "read b", "d"]
        assert any("SAVEPOINT" in s for s in statements)
        assert await _token_names(storage) == ["a", "b", "c", "d"]
    finally:
        await storage.close()


async def test_reads_see_the_writes_submitted_before_them(sql_backend: Backend) -> None:
    storage = sql_backend.replica()
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    replaced, got = await asyncio.gather(
        storage.tokens.replace("t", "v1", expires, previous=None),
        storage.tokens.get("t"),
    )
    assert replaced
    if sql_backend.name == "sqlite":  # one thread, in order
        assert got == ("v1", expires)


def _message(n: int, prefix: str = "m") -> InboundMessage:
    return InboundMessage(
        key=ConversationKey(Channel.WECHAT, "gh", f"user-{n % 7}"),
        message_id=f"{prefix}{n}",
        kind=InboundKind.TEXT,
        received_at=datetime(2024, 6, 1, tzinfo=UTC),
        text="路灯坏了",
        raw_type="text",
    )


def _count_commits(storage: Storage) -> list[int]:
    runner = _database(storage).runner
    assert runner is not None
    commits = [0]

    @event.listens_for(runner.engine, "commit")
    def _on_commit(_conn: Any) -> None:
        commits[0] += 1

    return commits


async def test_sqlite_group_commit_batches_concurrent_units(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    await upgrade(url)
    storage = build_storage(url)
    try:
        commits = _count_commits(storage)
        results = await asyncio.gather(
            *(storage.journal.accept(_message(i), owner="a", lease_seconds=30) for i in range(50))
        )
        assert all(r.new for r in results)
        assert 1 <= commits[0] < 10
    finally:
        await storage.close()


async def test_sqlite_without_group_commit_commits_each_unit(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    await upgrade(url)
    storage = build_storage(url, group_commit=False)
    try:
        commits = _count_commits(storage)
        results = await asyncio.gather(
            *(storage.journal.accept(_message(i), owner="a", lease_seconds=30) for i in range(20))
        )
        assert all(r.new for r in results)
        assert commits[0] == 20
    finally:
        await storage.close()


async def test_sqlite_failed_commit_fails_every_caller_of_the_batch(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    await upgrade(url)
    storage = build_storage(url)
    try:
        runner = _database(storage).runner
        assert runner is not None
        fail = [True]

        @event.listens_for(runner.engine, "commit")
        def _on_commit(_conn: Any) -> None:
            if fail[0]:
                raise OSError("disk on fire")

        results = await asyncio.gather(
            *(storage.journal.accept(_message(i), owner="a", lease_seconds=30) for i in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(r, StorageError) for r in results)
        assert all(isinstance(r.__cause__, OSError) for r in results)  # type: ignore[union-attr]
        fail[0] = False
        # Nothing was stored: the same messages are new now.
        again = await asyncio.gather(
            *(storage.journal.accept(_message(i), owner="a", lease_seconds=30) for i in range(5))
        )
        assert all(r.new for r in again)
    finally:
        await storage.close()


async def test_sqlite_close_finishes_queued_units(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    await upgrade(url)
    storage = build_storage(url)
    tasks = [
        asyncio.create_task(storage.journal.accept(_message(i), owner="a", lease_seconds=30))
        for i in range(200)
    ]
    await asyncio.sleep(0)  # the tasks have submitted their units
    await storage.close()
    assert all(task.done() and task.result().new for task in tasks)
    runner = _database(storage).runner
    assert runner is not None and not runner.running
    # The storage can still be used after close (the thread starts again).
    assert not (await storage.journal.accept(_message(0), owner="b", lease_seconds=30)).new
    await storage.close()


async def test_sqlite_health_check_fails_on_an_unusable_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a SQLite database, not even close" * 100)
    storage = build_storage(f"sqlite+aiosqlite:///{garbage}")
    try:
        with pytest.raises(StorageError):
            await storage.health.check()
        with pytest.raises(StorageError) as caught:
            await storage.conversations.load(ConversationKey(Channel.WECHAT, "gh", "u"))
        assert isinstance(caught.value.__cause__, SQLAlchemyError)
    finally:
        await storage.close()


def test_sqlite_sync_engine_settings(tmp_path: Path) -> None:
    from integrations.storage import create_engine
    from integrations.storage.engine import SQLITE_BUSY_TIMEOUT_MS

    engine = sqlite_sync_engine(create_engine(f"sqlite+aiosqlite:///{tmp_path / 's.db'}"))
    try:
        with engine.connect() as conn:
            pragmas = [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            ]
            assert conn.connection.dbapi_connection.isolation_level is None  # type: ignore[union-attr]
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            nested = conn.begin_nested()
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            nested.rollback()
            conn.commit()
            assert conn.exec_driver_sql("SELECT x FROM t").scalars().all() == [1]
    finally:
        engine.dispose()
    assert pragmas == ["wal", 1, SQLITE_BUSY_TIMEOUT_MS, 1]


def _names_in(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


_PROCESS = """
import asyncio, sys
from datetime import UTC, datetime
from bot.types import Channel, ConversationKey, InboundKind, InboundMessage
from bot.ports import TurnRecord
from integrations.storage import build_storage

async def main(url, who):
    storage = build_storage(url)
    new = 0
    try:
        for batch in range(10):
            messages = [
                InboundMessage(
                    key=ConversationKey(Channel.WECHAT, "gh", f"u{i % 5}"),
                    message_id=f"shared-{batch}-{i}",
                    kind=InboundKind.TEXT,
                    received_at=datetime(2024, 6, 1, tzinfo=UTC),
                    text="x",
                    raw_type="text",
                )
                for i in range(20)
            ]
            results = await asyncio.gather(*(
                storage.journal.accept(m, owner=who, lease_seconds=30) for m in messages
            ))
            new += sum(r.new for r in results)
            # Finish the ones this process won, one turn each (conversation
            # states collide across processes: the optimistic lock decides).
            for message, result in zip(messages, results):
                if not result.new:
                    continue
                for _ in range(50):
                    state = await storage.conversations.load(message.key)
                    state.data_json()
                    try:
                        await storage.conversations.complete_turn(TurnRecord(
                            message=message, state=state, intent=None, handler="t",
                            passive_reply=None, pushes=[],
                        ))
                        break
                    except Exception as exc:
                        if type(exc).__name__ != "ConcurrentUpdate":
                            raise
                else:
                    raise AssertionError("a turn never committed")
    finally:
        await storage.close()
    print(new)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_sqlite_several_processes_share_one_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade(url)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            textwrap.dedent(_PROCESS),
            url,
            f"p{n}",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    outputs = [await proc.communicate() for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    assert sum(int(out) for out, _ in outputs) == 200  # each message new exactly once
    # The writers serialised on the OS lock next to the database.
    assert f"shared.db{WRITER_LOCK_SUFFIX}" in _names_in(tmp_path)
    storage = build_storage(url)
    try:
        assert storage.engine is not None
        async with storage.engine.connect() as conn:
            statuses = (
                await conn.execute(text("SELECT status, count(*) FROM inbound_messages GROUP BY 1"))
            ).all()
            versions = (await conn.execute(text("SELECT sum(version) FROM conversations"))).scalar()
    finally:
        await storage.close()
    assert [(str(status), n) for status, n in statuses] == [("finished", 200)]
    assert versions == 200  # every turn committed exactly once


async def test_sqlite_writer_waits_for_the_os_lock_and_wakes_when_released(
    tmp_path: Path,
) -> None:
    """Another process holding ``<db>.writer-lock`` holds off our write transaction;
    its release lets the write through at once (not after a busy-handler sleep)."""
    db = tmp_path / "locked.db"
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade(url)
    storage = build_storage(url)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(
            """
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("locked", flush=True)
            sys.stdin.readline()
            """
        ),
        f"{db}{WRITER_LOCK_SUFFIX}",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)) == b"locked\n"
        write = asyncio.ensure_future(_database(storage).run("t", _insert_token("held")))
        await asyncio.sleep(0.3)
        assert not write.done()  # waiting for the other process's lock
        holder.stdin.write(b"go\n")
        await holder.stdin.drain()
        assert await asyncio.wait_for(write, 10) == "held"
        assert await _token_names(storage) == ["held"]
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
        await storage.close()
