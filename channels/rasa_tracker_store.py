"""Rasa's SQL tracker store, tuned in our Rasa process (channels/inbox.py applies both).

Same table, same rows, same answers as Rasa's SQLTrackerStore; only how it talks to the
database changes. A turn retrieves the tracker once and saves it once. Rasa builds each of
those statements afresh through the ORM (a query, a subquery, a count, an ORM object per
new event), and SQLAlchemy spends longer building a statement and its cache key than
running it: 1.7 ms of a turn's CPU here (docs/BENCHMARKS.md). Here the statements are
built once and the new events are inserted in one executemany.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool


def tune_tracker_store_engine() -> None:
    """Make Rasa's SQL tracker store engine hide parameters and keep SQLite connections.

    A failed insert of an event would otherwise log the event's JSON: a resident's words.
    And SQLAlchemy 1.4 opens a new SQLite connection for every session (two or three a
    turn); a pool keeps them open, as bot/db.py does for ours (docs/BENCHMARKS.md).
    """
    from rasa.core import tracker_store

    original = tracker_store.create_engine_kwargs
    if getattr(original, "tuned", False):
        return

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs = {**original(url), "hide_parameters": True}
        parsed = make_url(str(url))
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # The pool hands a connection to one thread at a time.
            kwargs["poolclass"] = QueuePool
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        return kwargs

    create_engine_kwargs.tuned = True  # type: ignore[attr-defined]
    tracker_store.create_engine_kwargs = create_engine_kwargs


def speed_up_sql_tracker_store() -> None:
    """Give Rasa's SQLTrackerStore statements built once (retrieve, count, insert)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    if getattr(SQLTrackerStore.save, "tuned", False):
        return
    events = SQLTrackerStore.SQLEvent.__table__
    starts = events.alias("starts")  # not correlated with the outer query's events
    sender = bindparam("sender_id")
    # As Rasa's _event_query: the events from the latest session start on (all of them
    # if none started), in the order they were stored.
    session_start = (
        select(func.max(starts.c.timestamp))
        .where(starts.c.sender_id == sender, starts.c.type_name == SessionStarted.type_name)
        .scalar_subquery()
    )
    since_start = (
        events.c.sender_id == sender,
        or_(events.c.timestamp >= session_start, session_start.is_(None)),
    )
    latest = select(events.c.data).where(*since_start).order_by(events.c.id)
    every = select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
    counted = select(func.count(events.c.id)).where(*since_start)
    add = insert(events)

    async def _retrieve(
        self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        query = every if fetch_events_from_all_sessions else latest
        with self.session_scope() as session:
            rows = session.execute(query, {"sender_id": sender_id}).scalars().all()
        if not self.domain or not rows:
            return None
        return DialogueStateTracker.from_dict(
            sender_id, [json.loads(data) for data in rows], self.domain.slots
        )

    async def save(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = session.execute(counted, {"sender_id": tracker.sender_id}).scalar_one()
            rows = []
            for event in list(tracker.events)[stored:]:
                data = event.as_dict()
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": data.get("parse_data", {})
                        .get("intent", {})
                        .get(INTENT_NAME_KEY),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:
                session.execute(add, rows)
            session.commit()

    save.tuned = True  # type: ignore[attr-defined]
    # Rasa's own, kept for the tests that compare the two.
    save.rasa = SQLTrackerStore.save  # type: ignore[attr-defined]
    _retrieve.rasa = SQLTrackerStore._retrieve  # type: ignore[attr-defined]
    SQLTrackerStore._retrieve = _retrieve
    SQLTrackerStore.save = save
