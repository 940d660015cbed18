"""Two residents with views and conversations, and a search of every store for traces of
one: shared by the tests of residents' rights (services, CLI, console)."""

from __future__ import annotations

from datetime import datetime, timezone

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from sqlalchemy import text

from bot.db import Database
from bot.models import Base, ChannelIdentity
from bot.services.consent import record_consent
from bot.services.identities import resident_for
from bot.services.views import set_area, store_view
from tests.tracker import save_conversation

PHONE, CHAT = "+447700900456", "98765432"
OTHER_PHONE = "+447700900999"
WORDS = "the potholes on Quarry Mount are a disgrace"
MORE_WORDS = "more bins please"
OTHER_WORDS = "the park is lovely"
WORDING = "Can we keep it?"
T0 = datetime(2026, 11, 2, 10, tzinfo=timezone.utc).timestamp()


def short_conversation(store: SQLTrackerStore, conversation_id: str, said: str) -> None:
    """One session: the resident says `said`, the bot notes it (4 events)."""
    save_conversation(store, conversation_id, [
        ActionExecuted("action_session_start", timestamp=T0), SessionStarted(timestamp=T0),
        UserUttered(said, intent={"name": "share_view"}, timestamp=T0 + 1),
        BotUttered("Thanks, noted.", timestamp=T0 + 2),
    ])  # fmt: skip


def two_residents(database: Database, store: SQLTrackerStore) -> dict[str, int | str]:
    """Jo on SMS and Telegram (consent, area LS6, two views, a conversation) and someone
    else with a view and a conversation; their ids and conversation ids."""
    with database.transaction() as s:
        jo = resident_for(s, "sms", PHONE)
        s.add(ChannelIdentity(resident_id=jo.id, channel="telegram", address=CHAT))
        record_consent(s, jo, given=True, wording=WORDING, channel="sms")
        set_area(s, jo, "LS6")
        store_view(s, jo, text=WORDS, theme_key="roads_transport", confidence=0.9, channel="sms")
        store_view(s, jo, text=MORE_WORDS, theme_key="waste_recycling", confidence=0.8,
                   channel="telegram")  # fmt: skip
        other = resident_for(s, "sms", OTHER_PHONE)
        record_consent(s, other, given=True, wording=WORDING, channel="sms")
        store_view(s, other, text=OTHER_WORDS, theme_key="parks_green_spaces", confidence=0.9,
                   channel="sms")  # fmt: skip
        ids = {"jo": jo.id, "other": other.id, "jo_cid": jo.conversation_id,
               "other_cid": other.conversation_id}  # fmt: skip
    short_conversation(store, str(ids["jo_cid"]), WORDS)
    short_conversation(store, str(ids["other_cid"]), OTHER_WORDS)
    return ids


def everything(database: Database, tracker: Database | None = None) -> str:
    """Every row of every table, ours and Rasa's `events`, as one string to search."""
    found = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found += [repr(tuple(row)) for row in connection.execute(table.select())]
    with (tracker or database).engine.connect() as connection:
        found += [repr(tuple(row)) for row in connection.execute(text("SELECT * FROM events"))]
    return "\n".join(found)
