"""Rasa's tracker store, read (and, for erasure, pruned) by this project's own code.

Rasa keeps every turn of every conversation in one `events` table (its SQLTrackerStore):
one row per event, `sender_id` being the resident's conversation id and `data` the event as
JSON. Declared here as a plain table so nothing of Rasa is imported to read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Float, Integer, String, Text, column, select, table
from sqlalchemy.engine import Connection

from bot.db import Database

EVENTS = table(
    "events",
    column("id", Integer),
    column("sender_id", String),
    column("type_name", String),
    column("timestamp", Float),
    column("intent_name", String),
    column("action_name", String),
    column("data", Text),
)


@dataclass(frozen=True)
class TrackerEvent:
    """One event of a conversation, as Rasa stored it."""

    id: int
    type: str
    at: datetime
    data: dict[str, Any]


def events_of(connection: Connection, conversation_id: str) -> Iterator[TrackerEvent]:
    """Every stored event of one conversation, oldest first."""
    rows = connection.execute(
        select(EVENTS.c.id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
        .where(EVENTS.c.sender_id == conversation_id)
        .order_by(EVENTS.c.id)
    )
    for event_id, type_name, timestamp, data in rows:
        yield TrackerEvent(
            event_id,
            type_name,
            datetime.fromtimestamp(timestamp or 0, timezone.utc),
            json.loads(data) if data else {},
        )


def tracker_database(url: str, database: Database) -> Database:
    """Rasa's tracker store at `url`: `database` itself when they share one (PostgreSQL)."""
    return database if url == database.url else Database(url)


def has_events_table(connection: Connection) -> bool:
    """Whether Rasa has made its table yet (it does on its first start)."""
    from sqlalchemy import inspect

    return inspect(connection).has_table("events")
