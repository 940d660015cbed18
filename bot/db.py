"""Engine and session factory, created lazily: importing this module connects nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

T = TypeVar("T")


# PostgreSQL errors of these classes may quote a value in their first line too (data:
# 'invalid input syntax for type integer: "..."'; syntax; raised; internal).
_QUOTES_VALUES = ("22", "42", "P0", "XX")


def value_free(orig: BaseException) -> str | None:
    """A PostgreSQL error's message without the values it may quote, or None to keep it.

    The server's DETAIL ("Failing row contains (..., +447700900123, ...)", "Key
    (address)=(...) already exists") and LINE context (the statement with its values in
    it, as psycopg2 sends them) quote residents' data; hide_parameters does not cover them.
    What is kept: the first line (unless its class may quote a value), the SQLSTATE, and
    the constraint, table and column the server names.
    """
    code = getattr(orig, "pgcode", None)
    if not code:
        return None  # not a server's error (e.g. the connection was lost): nothing quoted
    first = str(orig).split("\n", 1)[0].strip()
    parts = [
        "(message withheld: it may quote a value)" if code.startswith(_QUOTES_VALUES) else first
    ]
    parts.append(f"SQLSTATE {code}")
    diag = getattr(orig, "diag", None)
    for name in ("constraint_name", "table_name", "column_name"):
        value = getattr(diag, name, None)
        if value:
            parts.append(f"{name.split('_')[0]} {value}")
    return "; ".join(parts)


def _withhold_values(context: ExceptionContext) -> None:
    """handle_error: rewrite the driver's message (and ours built from it) without values."""
    orig = context.original_exception
    safe = value_free(orig) if orig is not None else None
    if safe is None:
        return
    orig.args = (safe,)  # the chained cause, printed by logger.exception
    error = context.sqlalchemy_exception
    if error is not None:
        error.args = (f"({type(orig).__module__}.{type(orig).__name__}) {safe}",)


def private_sqlite(url: str) -> None:
    """Make a SQLite database's folder and file, the file readable by its owner only.

    SQLite gives the -wal and -shm files it makes beside it the database file's mode, so
    residents' data is in no file other users of the machine can read. A file that
    exists, and the journals beside it, lose only other users' access. Any other
    database, or a SQLite URI: nothing to do.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if parsed.database.startswith("file:"):
        return  # a URI: opened as the operator wrote it
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if parsed.query:
        return  # options (read-only, ...): opened as the operator asked
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        # Also the journals a crash left beside it, which SQLite would reuse as they are.
        for name in (path, *(Path(f"{path}{end}") for end in ("-wal", "-shm", "-journal"))):
            with contextlib.suppress(FileNotFoundError):
                info = name.stat()
                if info.st_mode & stat.S_IRWXO and info.st_uid == os.getuid():
                    name.chmod(stat.S_IMODE(info.st_mode) & ~stat.S_IRWXO)


def make_engine(url: str) -> Engine:
    """Create an engine for `url`; SQLite files get their folder, WAL and foreign keys.

    Errors never carry residents' data into logs: bound parameters are left out of
    SQLAlchemy's messages (`hide_parameters`), and PostgreSQL's own details, which quote
    the failing row, are withheld (`value_free`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)
        if parsed.get_backend_name() == "postgresql":
            event.listen(engine, "handle_error", _withhold_values)
        return engine
    if parsed.database and parsed.database != ":memory:":
        private_sqlite(url)
        # SQLAlchemy 1.4 opens a new SQLite connection (and runs the pragmas below) for
        # every transaction; a pool keeps a few open, as 2.0 does. The pool hands each
        # connection to one thread at a time, so sqlite3's same-thread check can go.
        engine = create_engine(
            url,
            future=True,
            poolclass=QueuePool,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
        )
    else:
        engine = create_engine(url, future=True, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def open_transaction(session: Session) -> None:
    """Make sure the session's transaction is open in the database itself, before a savepoint.

    sqlite3 opens a transaction only before a write statement: a SAVEPOINT that comes first
    opens one of its own, and releasing it commits, whatever the session does afterwards.
    Other databases open the transaction with the session's first statement.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")


class Database:
    """One database: its engine and sessions, made on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine, created on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.url)
                self._sessionmaker = sessionmaker(self._engine, future=True, expire_on_commit=False)
            return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        self.engine  # noqa: B018 - makes the sessionmaker
        assert self._sessionmaker is not None
        with self._sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None
            self._sessionmaker = None


async def run_in_transaction(database: Database, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in one transaction in a worker thread, off the event loop."""

    def _run() -> T:
        with database.transaction() as session:
            return work(session)

    return await asyncio.to_thread(_run)


_default: Database | None = None
_default_lock = threading.Lock()


def default_database() -> Database:
    """The process's database, from `DATABASE_URL` (made on first call)."""
    global _default
    with _default_lock:
        if _default is None:
            from bot.settings import get_settings

            _default = Database(get_settings().database_url)
        return _default
