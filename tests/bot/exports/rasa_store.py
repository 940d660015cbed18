"""Rasa's own tracker store for the conversation tests, written with Rasa's own classes.

Imported only by the tests that need it: Rasa takes a second or so to import.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db import Database
from bot.services.identities import resident_for
from tests.bot.exports.support import DAY, consent_at

T0 = DAY  # 2026-11-02 10:00 UTC
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
DAMP = "damp flat and the bins ŵ ŷ 🙂 שלום مرحبا"
ROADS, WASTE, HOUSING, PARKS = "roads_transport", "waste_recycling", "housing", "parks_green_spaces"


@dataclass
class Tracker:
    """Rasa's tracker store, and the same database as the export reads it."""

    store: SQLTrackerStore
    database: Database

    @classmethod
    def on_sqlite(cls, path: Path) -> Tracker:
        store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
        return cls(store, Database(f"sqlite:///{path}"))

    @classmethod
    def on_postgresql(cls, url: str) -> Tracker:
        parsed = make_url(url)
        store = SQLTrackerStore(
            Domain.empty(), dialect="postgresql", host=parsed.host, port=parsed.port,
            db=parsed.database, username=parsed.username, password=parsed.password,
        )  # fmt: skip
        return cls(store, Database(url))

    def tell(self, conversation_id: str, events: list) -> None:
        """Save a conversation as Rasa does, events and all."""
        tracker = DialogueStateTracker.from_events(conversation_id, events)
        asyncio.run(self.store.save(tracker))

    def close(self, *, forget: bool) -> None:
        """Dispose of both engines; `forget`: delete every event first (a shared database)."""
        if forget:
            with self.store.engine.begin() as conn:
                conn.execute(text("DELETE FROM events"))
        self.store.engine.dispose()
        self.database.dispose()


def session_start(at: datetime) -> list:
    return [
        ActionExecuted("action_session_start", timestamp=at.timestamp()),
        SessionStarted(timestamp=at.timestamp()),
        ActionExecuted("action_listen", timestamp=at.timestamp()),
    ]


def said(words: str, at: datetime, intent: str = "give_view", *themes: str) -> UserUttered:
    """A resident's message, with the intent and themes our NLU puts in the parse data."""
    found = [{"name": theme, "confidence": 0.9} for theme in themes]
    return UserUttered(
        words,
        intent={"name": intent, "confidence": 0.95},
        parse_data={"theme": found[0] if found else {}, "themes": found},
        timestamp=at.timestamp(),
    )


def replied(action: str, at: datetime, *texts: str) -> list:
    """The bot's action and what it said, a second apart, then listening again."""
    events: list = [ActionExecuted(action, timestamp=at.timestamp())]
    events += [BotUttered(words, timestamp=(at + timedelta(seconds=n)).timestamp())
               for n, words in enumerate(texts, 1)]  # fmt: skip
    return [*events, ActionExecuted("action_listen", timestamp=at.timestamp())]


def three_conversations(database: Database, tracker: Tracker) -> dict[str, tuple[int, str]]:
    """Ann consented an hour in, raised a safeguarding matter on day 2 and withdrew on day 5.
    Bob refused. Cat (LS6) consented at once and spoke about housing, then housing and bins.
    Returns each one's resident id and conversation id."""
    with database.transaction() as s:
        ann = resident_for(s, "telegram", "4242")
        consent_at(s, ann, given=True, at=T0 + HOUR)
        consent_at(s, ann, given=False, at=T0 + timedelta(days=5))
        bob = resident_for(s, "sms", "+447700900001")
        consent_at(s, bob, given=False, at=T0 + HOUR)
        cat = resident_for(s, "sms", "+447700900002")
        consent_at(s, cat, given=True, at=T0)
        cat.area = "LS6"
        ids = {name: (r.id, r.conversation_id) for name, r in
               (("ann", ann), ("bob", bob), ("cat", cat))}  # fmt: skip
    day1, day2, day3, day6 = (T0 + timedelta(days=n) for n in (1, 2, 3, 6))
    tracker.tell(ids["ann"][1], [
        *session_start(T0),
        said("hi", T0 + 10 * MINUTE, "greet"),
        *replied("utter_ask_consent", T0 + 10 * MINUTE, "Can we keep what you tell us?"),
        said("yes", T0 + 59 * MINUTE, "consent_yes"),
        *replied("action_store_consent", T0 + HOUR + MINUTE, "Thanks! What is on your mind?"),
        said("the 42 bus is late, ring me on 07700 900123", T0 + HOUR + 2 * MINUTE,
             "give_view", ROADS),
        *replied("action_store_view", T0 + HOUR + 3 * MINUTE, "Noted under roads."),
        *session_start(day2),
        said("i want to hurt myself", day2 + MINUTE, "self_harm"),
        *replied("action_safeguard", day2 + MINUTE, "Please call Samaritans on 116 123.",
                 "You can also contact the duty team."),
        said("bins not collected at 12 Fern Street", day2 + 5 * MINUTE, "give_view", WASTE),
        *replied("action_store_view", day2 + 6 * MINUTE, "Noted under bins."),
        *session_start(day6),
        said("housing is awful", day6 + MINUTE, "give_view", HOUSING),
        *replied("action_store_view", day6 + 2 * MINUTE, "Noted under housing."),
    ])  # fmt: skip
    tracker.tell(ids["bob"][1], [
        *session_start(T0),
        said("the park is lovely, bob@example.org", T0 + 2 * HOUR, "give_view", PARKS),
        *replied("utter_consent_reminder", T0 + 2 * HOUR, "You said no, so we keep nothing."),
    ])  # fmt: skip
    tracker.tell(ids["cat"][1], [
        *session_start(day1),
        said("more council houses please", day1 + MINUTE, "give_view", HOUSING),
        *replied("action_store_view", day1 + 2 * MINUTE, "Noted under housing."),
        *session_start(day3),
        said(DAMP, day3 + MINUTE, "give_view", HOUSING, WASTE),
        *replied("action_store_view", day3 + 2 * MINUTE, "Noted twice 👍🏽."),
    ])  # fmt: skip
    return ids
