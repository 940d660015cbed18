"""Our tuning of Rasa's SQL tracker store stores and finds exactly what Rasa's own does."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from sqlalchemy import text
from sqlalchemy.pool import QueuePool

from channels.rasa_tracker_store import speed_up_sql_tracker_store, tune_tracker_store_engine
from tests.databases import drop_postgres_database, fresh_postgres_database

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, share_view]
slots:
  stage:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
"""
)


def _session(at: float, words: str) -> list:
    """One session: its start, a message, an action and a slot, as Rasa would store them."""
    return [
        ActionExecuted("action_session_start", timestamp=at),
        SessionStarted(timestamp=at),
        ActionExecuted("action_listen", timestamp=at + 1),
        UserUttered(words, {"name": "share_view", "confidence": 0.9}, timestamp=at + 2),
        ActionExecuted("action_store_view", policy="RulePolicy", timestamp=at + 3),
        BotUttered("Thanks", {"buttons": None}, timestamp=at + 3),
        SlotSet("stage", "more", timestamp=at + 3),
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def stores(request, tmp_path) -> Iterator[tuple[SQLTrackerStore, SQLTrackerStore]]:
    """Two empty tracker stores on one kind of database (one for Rasa's code, one ours)."""
    tune_tracker_store_engine()
    speed_up_sql_tracker_store()
    if request.param == "sqlite":
        made = [
            SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / f"{name}.db"))
            for name in ("rasa", "ours")
        ]
        yield made[0], made[1]
    else:
        server = os.environ.get("TEST_DATABASE_URL", "").strip()
        if not server:
            if os.environ.get("CI"):
                pytest.fail("TEST_DATABASE_URL must be set in CI")
            pytest.skip("TEST_DATABASE_URL is not set")
        databases = [fresh_postgres_database(server, "engage_tracker") for _ in range(2)]
        made = [SQLTrackerStore(DOMAIN, host=url) for url, _ in databases]
        yield made[0], made[1]
        for store in made:
            store.engine.dispose()
        for _, name in databases:
            drop_postgres_database(server, name)
        return
    for store in made:
        store.engine.dispose()


def _rows(store: SQLTrackerStore) -> list[tuple]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
                "FROM events ORDER BY id"
            )
        )
        return [(*row[:5], json.loads(row[5])) for row in rows]


def _state(tracker: DialogueStateTracker | None) -> dict | None:
    return None if tracker is None else tracker.current_state(EventVerbosity.ALL)


async def _save_in_two_turns(store: SQLTrackerStore, save) -> None:
    """Two conversations; the second saved twice, each time with more events (two sessions)."""
    first = DialogueStateTracker.from_events("a", _session(100.0, "more buses"), DOMAIN.slots)
    await save(store, first)
    second = DialogueStateTracker.from_events("b", _session(200.0, "fix the lights"), DOMAIN.slots)
    await save(store, second)
    for event in _session(300.0, "and the bins"):
        second.update(event)
    await save(store, second)


async def test_the_tuned_store_writes_the_rows_rasas_writes(stores):
    rasas, ours = stores
    await _save_in_two_turns(rasas, SQLTrackerStore.save.rasa)
    await _save_in_two_turns(ours, SQLTrackerStore.save)
    assert _rows(ours) == _rows(rasas)
    assert len(_rows(ours)) == 7 * 3  # each event once, though "b" was saved twice


async def test_the_tuned_store_reads_back_what_rasas_reads(stores):
    rasas, _ = stores
    await _save_in_two_turns(rasas, SQLTrackerStore.save.rasa)
    for sender_id in ("a", "b", "nobody"):
        for every_session in (False, True):
            expected = await SQLTrackerStore._retrieve.rasa(rasas, sender_id, every_session)
            got = await rasas._retrieve(sender_id, every_session)
            assert _state(got) == _state(expected)
    latest = await rasas.retrieve("b")
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == ["and the bins"]
    everything = await rasas.retrieve_full_tracker("b")
    assert len([e for e in everything.events if isinstance(e, UserUttered)]) == 2


async def test_a_conversation_with_no_session_start_is_read_whole(stores):
    _, ours = stores
    tracker = DialogueStateTracker.from_events(
        "c", [ActionExecuted("action_listen", timestamp=1.0), UserUttered("hi", timestamp=2.0)]
    )
    await ours.save(tracker)
    assert len((await ours.retrieve("c")).events) == 2


def test_rasas_sqlite_tracker_store_keeps_its_connections(tmp_path):
    tune_tracker_store_engine()
    store = SQLTrackerStore(dialect="sqlite", db=str(tmp_path / "tracker.db"))
    try:
        assert isinstance(store.engine.pool, QueuePool)
        assert store.engine.hide_parameters
    finally:
        store.engine.dispose()


def test_tuning_twice_changes_nothing():
    speed_up_sql_tracker_store()
    save, retrieve = SQLTrackerStore.save, SQLTrackerStore._retrieve
    speed_up_sql_tracker_store()
    assert (SQLTrackerStore.save, SQLTrackerStore._retrieve) == (save, retrieve)
