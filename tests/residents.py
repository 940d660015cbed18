"""Residents for the tests and the benchmarks, made in one place.

One at a time through the services, as a conversation would make them (`add_resident`,
`add_view`); told of an update (`published`, `update_sent_to`); many at once by batched
inserts, for the benchmarks (`seed_residents`); and the two residents of the rights tests
(services, CLI, console), with a search of every store for traces of one (`two_residents`,
`everything`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select, text

from bot.db import Database
from bot.models import (
    Base,
    ChannelIdentity,
    ConsentEvent,
    ConsentWording,
    OutboxMessage,
    Resident,
    View,
    ViewTheme,
)
from bot.services.consent import record_consent
from bot.services.identities import resident_for
from bot.services.residents import get_or_create_resident
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.services.views import store_view

if TYPE_CHECKING:
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy.orm import Session

NOW = datetime.now(timezone.utc)  # `add_view`'s days are counted back from here
PHONE, CHAT = "+447700900456", "98765432"
OTHER_PHONE = "+447700900999"
WORDS = "the potholes on Quarry Mount are a disgrace"
MORE_WORDS = "more bins please"
OTHER_WORDS = "the park is lovely"
WORDING = "Can we keep it?"
T0 = datetime(2026, 11, 2, 10, tzinfo=timezone.utc).timestamp()
YOU_SAID, WE_DID = "buses stop too early", "From 3 March the 42 runs until 11pm."
LATER_BUSES = UpdateDraft(
    title="Later buses", you_said=YOU_SAID, we_did=WE_DID, themes=("roads_transport",)
)
# What residents say, for the benchmarks that make many of them.
VIEWS = [
    "the buses stop at 6 so i cant get home from my shift",
    "my gp surgery never answers the phone",
    "the park is full of litter again",
    "rents keep going up and the flats are damp",
    "there is nothing for teenagers to do round here",
    "the streetlights on our road have been out for weeks",
    "cars speed past the school every morning",
    "the library opening hours were cut",
]


def add_resident(
    session: Session,
    channel: str,
    address: str,
    *,
    area: str | None = None,
    consent: bool = True,
    wording: str = "w",
    joined: datetime | None = None,
) -> Resident:
    """The resident at `address` on `channel` (made if new), who answered the consent
    question shown as `wording` (yes unless `consent` is False), in `area`; `joined`: when
    they first wrote. On REST and the terminal chat the address is the conversation id."""
    if channel in ("sms", "telegram"):
        person = resident_for(session, channel, address)
    else:
        person = get_or_create_resident(session, address, channel)
    if joined is not None:
        person.created_at = joined
    record_consent(session, person, given=consent, wording=wording, channel=channel)
    person.area = area
    session.flush()
    return person


def add_view(
    session: Session,
    person: Resident,
    text: str,
    theme: str | None,
    *,
    days_ago: float = 0,
    channel: str | None = None,
) -> View:
    """A view `days_ago` days before NOW (confidence 0.9; on SMS unless `channel` says)."""
    view = store_view(
        session, person, text=text, theme_key=theme, confidence=0.9,
        channel=channel or "sms",
    )  # fmt: skip
    view.created_at = NOW - timedelta(days=days_ago)
    session.flush()
    return view


def published(database: Database, sms: list[str], telegram: Sequence[str] = ()) -> int:
    """Residents at these SMS numbers and Telegram chats, each with a view on roads and
    transport, and LATER_BUSES published to them (queued, not sent): its id."""
    with database.transaction() as s:
        for channel, addresses in (("sms", sms), ("telegram", telegram)):
            for address in addresses:
                person = add_resident(s, channel, address)
                store_view(s, person, text="t", theme_key="roads_transport", confidence=0.9,
                           channel=channel)  # fmt: skip
        update = draft_update(s, LATER_BUSES, created_by="test")
        publish(s, update.id)
        return update.id


def update_sent_to(session: Session, person: Resident, sent_at: datetime) -> int:
    """An update on buses told to `person` (who gets a view on them first), sent at
    `sent_at` with the provider id SM1: its outbox id."""
    store_view(session, person, text="buses", theme_key="roads_transport", confidence=0.9,
               channel="sms")  # fmt: skip
    buses = UpdateDraft(title="Buses", you_said="buses stop early", we_did="The 42 runs later.",
                        themes=["roads_transport"])  # fmt: skip
    update = draft_update(session, buses, created_by="t")
    publish(session, update.id)
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.update_id == update.id)).one()
    row.status, row.sent_at, row.provider_id = "sent", sent_at, "SM1"
    return row.id


def numbers(n: int) -> list[str]:
    """The SMS numbers of residents 0..n-1 (+447700900000 on)."""
    return [f"+4477009{i:05d}" for i in range(n)]


def seed_residents(database: Database, count: int, theme: str) -> None:
    """`count` consented SMS residents (ids 1..count, at `numbers(count)`), each with one
    view on `theme`: batched inserts with explicit ids, for the benchmarks."""
    with database.transaction() as s:
        s.add(ConsentWording(version="bench", text="Can we keep your views and contact you?"))
        s.flush()
        # Explicit ids let the ORM insert in batches (executemany) instead of row by row;
        # one table at a time, parents first.
        conversations = [uuid.uuid4().hex for _ in range(count)]
        s.add_all(
            Resident(id=i, conversation_id=c, consent="given", contact_ok=True)
            for i, c in enumerate(conversations, start=1)
        )
        s.flush()
        s.add_all(
            ChannelIdentity(id=i, resident_id=i, channel="sms", address=number)
            for i, number in enumerate(numbers(count), start=1)
        )
        s.add_all(
            ConsentEvent(
                id=i,
                resident_id=i,
                kind="given",
                store_views=True,
                contact=True,
                wording_version="bench",
                channel="sms",
            )
            for i in range(1, count + 1)
        )
        s.add_all(
            View(
                id=i,
                resident_id=i,
                text=VIEWS[0],
                theme_key=theme,
                confidence=0.9,
                channel="sms",
                conversation_id=c,
            )
            for i, c in enumerate(conversations, start=1)
        )
        s.flush()
        s.add_all(
            ViewTheme(id=i, view_id=i, theme_key=theme, confidence=0.9, rank=0)
            for i in range(1, count + 1)
        )
        s.flush()
        if s.get_bind().dialect.name == "postgresql":  # ids were given: move the sequences on
            for table in (
                "residents",
                "channel_identities",
                "consent_events",
                "views",
                "view_themes",
            ):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


def short_conversation(store: SQLTrackerStore, conversation_id: str, said: str) -> None:
    """One session: the resident says `said`, the bot notes it (4 events)."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered

    from tests.tracker import save_conversation

    save_conversation(store, conversation_id, [
        ActionExecuted("action_session_start", timestamp=T0), SessionStarted(timestamp=T0),
        UserUttered(said, intent={"name": "share_view"}, timestamp=T0 + 1),
        BotUttered("Thanks, noted.", timestamp=T0 + 2),
    ])  # fmt: skip


def two_residents(database: Database, store: SQLTrackerStore) -> dict[str, int | str]:
    """Jo on SMS and Telegram (consent, area LS6, two views, a conversation) and someone
    else with a view and a conversation; their ids and conversation ids."""
    with database.transaction() as s:
        jo = add_resident(s, "sms", PHONE, area="LS6", wording=WORDING)
        s.add(ChannelIdentity(resident_id=jo.id, channel="telegram", address=CHAT))
        store_view(s, jo, text=WORDS, theme_key="roads_transport", confidence=0.9, channel="sms")
        store_view(s, jo, text=MORE_WORDS, theme_key="waste_recycling", confidence=0.8,
                   channel="telegram")  # fmt: skip
        other = add_resident(s, "sms", OTHER_PHONE, wording=WORDING)
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
