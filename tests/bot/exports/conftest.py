"""Fixtures for the export tests: views, an update with reactions, Rasa's tracker store."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.models import OutboxMessage, View
from bot.services.identities import resident_for
from bot.services.reactions import record_reaction
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.services.views import store_view
from tests.bot.exports.support import DAY
from tests.databases import drop_postgres_database, fresh_postgres_database
from tests.residents import add_resident

RTL = "שלום, الحافلة متأخرة دائما 👩\u200d👩\u200d👧"


@pytest.fixture
def views(database):
    """Three views: one about two things with personal details, one formula-like, one Welsh."""
    with database.transaction() as s:
        jo = add_resident(s, "sms", "+447700900123", area="LS6")
        first = store_view(
            s, jo, text="call me on 07700 900123, trams late and dog mess at 12 Fern Street",
            theme_key="roads_transport", confidence=0.8, channel="sms",
            also=[("waste_recycling", 0.7)],
        )  # fmt: skip
        first.created_at = DAY
        ann = add_resident(s, "telegram", "4242")
        second = store_view(
            s, ann, text="=HYPERLINK(\"http://evil\") more bins", theme_key="waste_recycling",
            confidence=0.9, channel="telegram",
        )  # fmt: skip
        second.created_at = DAY.replace(day=3)
        third = store_view(
            s, ann, text="mae angen mwy o fysiau ŵ ŷ 🙂", theme_key=None, confidence=0.2,
            channel="telegram",
        )  # fmt: skip
        third.created_at = DAY.replace(day=20)
        return {"jo": jo.id, "ann": ann.id}


@pytest.fixture
def golden(views, database):
    """The golden files' data: the three views, one in right-to-left scripts, and an update
    about roads and waste with two reactions to it (one a comment, kept as a view too)."""
    with database.transaction() as s:
        jo = resident_for(s, "sms", "+447700900123")
        ann = resident_for(s, "telegram", "4242")
        fourth = store_view(
            s, jo, text=RTL, theme_key="roads_transport", confidence=0.55, channel="sms", rating=4
        )
        fourth.created_at = DAY.replace(day=21, hour=8, minute=30, second=15, microsecond=250000)
        update = draft_update(
            s,
            UpdateDraft(
                title="+1 bus an hour: bysiau ŵ",
                you_said="buses stop early",
                we_did="The 42 runs later.",
                themes=["roads_transport", "waste_recycling"],
            ),
            created_by="t",
        )
        publish(s, update.id, now=DAY.replace(day=22))
        outbox = dict(s.execute(select(OutboxMessage.resident_id, OutboxMessage.id)).all())
        helped = record_reaction(s, outbox[jo.id], jo.conversation_id, kind="helped", channel="sms")
        comment = record_reaction(
            s, outbox[ann.id], ann.conversation_id, kind="comment", channel="telegram",
            text="-1 for this, tel 07700 900123 or ann@example.org", theme_key="waste_recycling",
            confidence=0.6,
        )  # fmt: skip
        helped.created_at = DAY.replace(day=23)
        comment.created_at = DAY.replace(day=24)
        s.get(View, comment.view_id).created_at = DAY.replace(day=24)
        s.flush()
        return {**views, "update": update.id}


@pytest.fixture(scope="session")
def postgres_tracker_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for Rasa's tracker store, dropped after the run."""
    server = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not server:
        pytest.skip("TEST_DATABASE_URL is not set")
    url, name = fresh_postgres_database(server, prefix="engage_tracker_test")
    yield url
    drop_postgres_database(server, name)


@pytest.fixture
def tracker(database, tmp_path, request):  # type: ignore[no-untyped-def]
    """Rasa's own SQLTrackerStore on the same kind of database as `database`."""
    from tests.bot.exports.rasa_store import Tracker

    on_sqlite = database.url.startswith("sqlite")
    if on_sqlite:
        store = Tracker.on_sqlite(tmp_path / "tracker.db")
    else:
        store = Tracker.on_postgresql(request.getfixturevalue("postgres_tracker_url"))
    yield store
    store.close(forget=not on_sqlite)


@pytest.fixture
def conversations(database, tracker) -> dict[str, tuple[int, str]]:
    """Three residents' conversations in Rasa's tracker store (see `three_conversations`)."""
    from tests.bot.exports.rasa_store import three_conversations

    return three_conversations(database, tracker)
