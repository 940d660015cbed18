"""Erasing a resident from both stores: Rasa's tracker store, then this project's tables.

One place for the CLI, the console and the inbox worker (which erases a resident who
asked in the conversation, once the reply confirming it has been sent).
"""

from __future__ import annotations

from bot.db import Database
from bot.keys import local_secret
from bot.models import Resident
from bot.services.rights import Erasure, delete_tracker_events, erase, erasure_requested
from bot.settings import Settings
from bot.tracker_store import tracker_database


def do_not_contact_key(settings: Settings) -> str:
    """DO_NOT_CONTACT_KEY, or a key made once in var/."""
    return local_secret(settings.do_not_contact_key, settings.var_dir, "do_not_contact_key")


class Eraser:
    """Erases residents: one transaction on the tracker store, then one on our tables."""

    def __init__(self, database: Database, tracker: Database, key: str) -> None:
        self.database = database
        self.tracker = tracker
        self.key = key

    @classmethod
    def for_settings(cls, settings: Settings, database: Database) -> Eraser:
        """The eraser of a running system (the tracker store may share the database)."""
        tracker = tracker_database(settings.tracker_database_url, database)
        return cls(database, tracker, do_not_contact_key(settings))

    def erase(self, resident_id: int, actor: str, remote_addr: str | None = None) -> Erasure | None:
        """Erase one resident everywhere; None if there is no such resident.

        The tracker store goes first: if our transaction then fails, the resident is still
        there to be erased again, and deleting no events twice is harmless.
        """
        with self.database.transaction() as session:
            resident = session.get(Resident, resident_id)
            live = resident is not None and resident.erased_at is None
            conversation_id = resident.conversation_id if live else None
        if conversation_id is None:
            return None
        with self.tracker.engine.begin() as connection:
            events = delete_tracker_events(connection, conversation_id)
        with self.database.transaction() as session:
            return erase(
                session, resident_id, key=self.key, actor=actor, tracker_events=events,
                remote_addr=remote_addr,
            )  # fmt: skip

    def erase_if_asked(self, conversation_id: str) -> bool:
        """Erase the resident if they asked to be forgotten in the conversation."""
        with self.database.transaction() as session:
            resident_id = erasure_requested(session, conversation_id)
        return resident_id is not None and self.erase(resident_id, "resident") is not None
