"""Core statements compiled once, executed without SQLAlchemy's per-call overhead on SQLite.

``Connection.execute`` costs ~45 µs per statement (cache-key generation,
execution context, events, result set-up) while the statement itself costs
~5 µs in SQLite; a turn runs half a dozen. So on the SQLite writer thread a
:class:`Prepared` statement runs on the DBAPI connection directly, with what
SQLAlchemy compiled for it once: the SQL text, the order of its ``?``
parameters, the literal values baked into it, and the bind and result
processors of its column types (so values convert exactly as through
SQLAlchemy: UTC datetimes, JSON with the engine's serializer). Driver errors
are raised as SQLAlchemy's ``DBAPIError`` classes, as ``Connection.execute``
would raise them.

Anywhere else (asyncpg under ``run_sync``, or a statement SQLite cannot take
this way) it is plain ``conn.execute(statement, params)``. Parameters are
given without the ``b_`` prefix of the statements' bind names.

An INSERT or UPDATE on a table with Python-side column defaults
(``default=``/``onupdate=``, which the storage models do not use) always
takes ``Connection.execute``, which is where SQLAlchemy fills those in.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from integrations.storage.models import UTCDateTime

__all__ = ["BIND_PREFIX", "Prepared"]

BIND_PREFIX = "b_"

Processor = Callable[[Any], Any] | None


class Rows:
    """What a fast execution returns: the rows (namedtuples) and the rowcount."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


class _Plan:
    __slots__ = ("args", "dialect", "result", "returns_rows", "row", "sql")

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        table = getattr(statement, "table", None)  # INSERT/UPDATE: Python-side defaults?
        if table is not None and any(
            column.default is not None or column.onupdate is not None
            for column in getattr(table, "columns", ())
        ):
            raise _Unsupported  # SQLAlchemy fills those in Connection.execute
        compiled = statement.compile(dialect=dialect)
        positions = compiled.positiontup
        if positions is None or "__[POSTCOMPILE" in compiled.string:
            raise _Unsupported
        self.dialect = dialect
        self.sql: str = compiled.string
        # Per ? in order: (parameter name, processor) or (None, literal already processed).
        args: list[tuple[str | None, Any]] = []
        for name in positions:
            bind = compiled.binds[name]
            process = _fast_bind_processor(bind.type, dialect) or bind.type.dialect_impl(
                dialect
            ).bind_processor(dialect)
            if name.startswith(BIND_PREFIX) and bind.required:
                args.append((name[len(BIND_PREFIX) :], process))
            else:  # a literal compiled into the statement
                value = bind.effective_value
                args.append((None, process(value) if process else value))
        self.args = tuple(args)
        # A SELECT's columns, or a DML statement's RETURNING columns (none without).
        columns = list(statement.exported_columns)
        self.returns_rows = bool(columns)
        self.result: tuple[Processor, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        self.row: Any = _row_type([column.key for column in columns]) if columns else None

    def values(self, params: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            [
                (extra(params[key]) if extra else params[key]) if key is not None else extra
                for key, extra in self.args
            ]
        )

    def rows(self, raw: Sequence[Any]) -> list[Any]:
        result, row = self.result, self.row
        if not any(result):
            return [row._make(r) for r in raw]
        return [
            row._make([p(v) if p else v for p, v in zip(result, r, strict=True)]) for r in raw
        ]


class _Unsupported(Exception):
    pass


# SQLite's DATETIME text (SQLAlchemy's default storage format), for a UTC datetime.
_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _utc_sqlite_datetime(value: datetime | None) -> str | None:
    """``UTCDateTime``'s bind processing on SQLite in one step: aware → UTC → the
    text SQLAlchemy's SQLite DATETIME writes (same string, a third of the time)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime given to the database: {value!r}")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.replace(tzinfo=None).isoformat(" ")
    return text if value.microsecond else text + ".000000"


def _fast_bind_processor(type_: Any, dialect: Dialect) -> Processor:
    """A faster processor giving the same values, for the types that have one."""
    if dialect.name != "sqlite" or type(type_) is not UTCDateTime:
        return None
    impl = type_.dialect_impl(dialect)
    storage = getattr(getattr(impl, "impl", None), "dialect_impl", None)
    if storage is None or getattr(storage(dialect), "_storage_format", None) != (
        _SQLITE_DATETIME_FORMAT
    ):
        return None
    return _utc_sqlite_datetime


def _row_type(fields: list[str]) -> Any:
    return namedtuple("Row", fields)


class Prepared:
    """A Core statement (bind names ``b_*``) with a compiled plan per SQLite dialect."""

    __slots__ = ("_plan", "_unsupported", "statement")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plan: _Plan | None = None
        self._unsupported = False

    def execute(self, conn: Connection, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        dialect = conn.dialect
        if dialect.driver != "pysqlite" or self._unsupported:
            return self._slow(conn, params)
        plan = self._plan
        if plan is None or plan.dialect is not dialect:
            try:
                plan = self._plan = _Plan(self.statement, dialect)
            except _Unsupported:
                self._unsupported = True
                return self._slow(conn, params)
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        args: Any = None
        try:
            if isinstance(params, list):
                args = [plan.values(p) for p in params]
                cursor = dbapi.executemany(plan.sql, args)
                return Rows([], cursor.rowcount)
            args = plan.values(params)
            cursor = dbapi.execute(plan.sql, args)
            rows = plan.rows(cursor.fetchall()) if plan.returns_rows else []
            return Rows(rows, cursor.rowcount)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                plan.sql, args, exc, sqlite3.Error, dialect=dialect
            ) from exc

    def _slow(self, conn: Connection, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
        if isinstance(params, list):
            return conn.execute(self.statement, [_bound(p) for p in params])
        return conn.execute(self.statement, _bound(params))


def _bound(params: dict[str, Any]) -> dict[str, Any]:
    return {f"{BIND_PREFIX}{name}": value for name, value in params.items()}
