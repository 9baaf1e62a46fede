"""Creating the async engine from a database URL.

- ``sqlite+aiosqlite:///var/minhu.db`` (relative to the cwd) or
  ``sqlite+aiosqlite:////abs/path.db``: the parent directory is created, and
  every connection gets WAL, ``synchronous=NORMAL``, a busy timeout and
  foreign keys on. Transactions begin with an explicit ``BEGIN`` (the pysqlite
  driver's implicit transactions are turned off, as SQLAlchemy recommends).
  The storage ports do not run on this async engine: ``sqlite_sync_engine``
  gives the synchronous pysqlite engine on the same file that their writer
  thread uses (its transactions begin with ``BEGIN IMMEDIATE``); the async
  one serves migrations and ad-hoc SQL.
- ``postgresql+asyncpg://user@host:port/db``: a pooled asyncpg engine;
  ``search_path`` can name the schema to use (tests use a fresh one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_engine", "is_sqlite", "sqlite_sync_engine"]

SQLITE_BUSY_TIMEOUT_MS = 10_000


# Keep Chinese text readable in the database. One encoder, made once:
# json.dumps with non-default options builds a new JSONEncoder per call.
_json_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json_dumps(value: Any) -> str:
    return _json_encoder.encode(value)


def is_sqlite(engine_or_url: AsyncEngine | str) -> bool:
    if isinstance(engine_or_url, AsyncEngine):
        return engine_or_url.dialect.name == "sqlite"
    return make_url(engine_or_url).get_backend_name() == "sqlite"


def create_engine(
    database_url: str,
    *,
    search_path: str | None = None,
    pool_size: int = 10,
    echo: bool = False,
) -> AsyncEngine:
    """An async engine for ``database_url`` (SQLite via aiosqlite or PostgreSQL via asyncpg)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            json_serializer=_json_dumps,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if search_path:
            connect_args["server_settings"] = {"search_path": search_path}
        return create_async_engine(
            url,
            echo=echo,
            json_serializer=_json_dumps,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args=connect_args,
        )
    raise ValueError(f"unsupported database URL {url.render_as_string(hide_password=True)!r}")


def sqlite_sync_engine(engine: AsyncEngine) -> Engine:
    """A synchronous pysqlite engine on the same SQLite file as ``engine``.

    It has no pool (its one user keeps one connection open) and the same
    connection settings; its transactions begin with ``BEGIN IMMEDIATE``,
    which takes the write lock up front: a transaction never has to upgrade
    a read lock, so writers in several processes queue on ``busy_timeout``
    instead of deadlocking.
    """
    if engine.dialect.name != "sqlite":
        raise ValueError("sqlite_sync_engine needs a SQLite engine")
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync_engine = create_sync_engine(
        url,
        echo=engine.echo,
        json_serializer=_json_dumps,
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    _configure_sqlite_engine(sync_engine, begin="BEGIN IMMEDIATE")
    return sync_engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    _configure_sqlite_engine(engine.sync_engine, begin="BEGIN")


def _configure_sqlite_engine(sync_engine: Engine, *, begin: str) -> None:
    # SQLAlchemy's recipe for pysqlite: turn off the driver's own transaction
    # handling (which breaks SAVEPOINT) and emit BEGIN ourselves.

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)
