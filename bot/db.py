"""Engine and session factory, created lazily: importing this module connects nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """Create an engine for `url`; SQLite files get their folder, WAL and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, future=True, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy 1.4 opens a new SQLite connection (and runs the pragmas below) for
        # every transaction; a pool keeps a few open, as 2.0 does. The pool hands each
        # connection to one thread at a time, so sqlite3's same-thread check can go.
        engine = create_engine(
            url,
            future=True,
            poolclass=QueuePool,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
    else:
        engine = create_engine(url, future=True, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


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
