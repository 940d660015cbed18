"""A real Rasa SQL tracker store beside a test database, for tests that read or prune it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.db import Database


def tracker_store_for(database: Database) -> SQLTrackerStore:
    """Rasa's own SQLTrackerStore on the same database (its `events` table made if missing)."""
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        return SQLTrackerStore(dialect="sqlite", db=url.database)
    return SQLTrackerStore(
        dialect="postgresql", host=url.host, port=url.port or 5432, db=url.database,
        username=url.username,
    )  # fmt: skip


def save_conversation(store: SQLTrackerStore, sender_id: str, events: Iterable[Event]) -> None:
    """Store one conversation's events as Rasa would."""
    tracker = DialogueStateTracker.from_events(sender_id, list(events))
    asyncio.run(store.save(tracker))


def clear_events(database: Database) -> None:
    """Drop Rasa's table: on PostgreSQL tests share one database, which must match the models."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS events")
