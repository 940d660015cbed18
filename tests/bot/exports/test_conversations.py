"""Conversations from Rasa's own tracker store, turn by turn: only from consent to its
withdrawal, nothing of residents who refused, no safeguarding exchange, redacted text,
pseudonymous residents, numbered sessions; `--theme` keeps the sessions that raised it.

The tracker store is Rasa's SQLTrackerStore, written by Rasa's own classes: on SQLite
beside the SQLite database, and on PostgreSQL (a throwaway database) beside PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.exports import ExportError, ExportFilter, ExportRequest, export
from bot.exports.conversations import consented_intervals, conversation_rows
from bot.models import AuditEvent, ConsentEvent, Resident
from bot.pseudonyms import pseudonym
from bot.services.identities import resident_for
from tests.bot.exports.rasa_store import DAMP, HOUR, HOUSING, MINUTE, PARKS, ROADS, T0, WASTE
from tests.bot.exports.support import KEY, consent_at, run_export


def _rows(database, tracker, **filters):
    with database.transaction() as s, tracker.database.engine.connect() as conn:
        return list(conversation_rows(s, conn, ExportFilter.checked(**filters), KEY))


def _said(rows):
    return [(row["session"], row["speaker"], row["text"]) for row in rows]


def test_only_consented_turns_leave_without_safeguarding_and_redacted(
    database, tracker, conversations
):
    rows = _rows(database, tracker)
    ann, cat = (pseudonym(conversations[name][0], KEY) for name in ("ann", "cat"))
    assert [row["resident"] for row in rows] == [ann] * 5 + [cat] * 4
    assert _said(rows[:5]) == [
        # Before consent (an hour in): nothing. Session 1, from consent on:
        (1, "bot", "Thanks! What is on your mind?"),
        (1, "resident", "the 42 bus is late, ring me on [phone]"),
        (1, "bot", "Noted under roads."),
        # Session 2: the self-harm message and both replies to it are left out.
        (2, "resident", "bins not collected at [address]"),
        (2, "bot", "Noted under bins."),
        # Session 3 came after the withdrawal on day 5: nothing.
    ]
    assert _said(rows[5:]) == [
        (1, "resident", "more council houses please"),
        (1, "bot", "Noted under housing."),
        (2, "resident", DAMP),
        (2, "bot", "Noted twice 👍🏽."),
    ]
    first = rows[1]
    assert (first["intent"], first["theme"], first["action"]) == ("give_view", ROADS, None)
    assert first["timestamp"] == T0 + HOUR + 2 * MINUTE
    assert (rows[2]["intent"], rows[2]["theme"], rows[2]["action"]) == (
        None, None, "action_store_view"
    )  # fmt: skip
    assert rows[7]["theme"] == f"{HOUSING};{WASTE}"
    withheld = {
        "hi", "Can we keep what you tell us?", "yes",  # before consent
        "i want to hurt myself", "Please call Samaritans on 116 123.",  # safeguarding
        "You can also contact the duty team.",
        "housing is awful", "Noted under housing.",  # after the withdrawal (Ann's)
        "the park is lovely, [email]", "You said no, so we keep nothing.",  # Bob refused
    }  # fmt: skip
    assert withheld & {row["text"] for row in rows[:5]} == set()
    everything = json.dumps(rows, default=str)
    for _, conversation_id in conversations.values():
        assert conversation_id not in everything
    assert "4242" not in everything and "+4477" not in everything and "bob@" not in everything


def test_theme_keeps_the_sessions_that_raised_it_and_other_filters_apply(
    database, tracker, conversations
):
    assert _said(_rows(database, tracker, themes=[ROADS])) == [
        (1, "bot", "Thanks! What is on your mind?"),
        (1, "resident", "the 42 bus is late, ring me on [phone]"),
        (1, "bot", "Noted under roads."),
    ]
    waste = _rows(database, tracker, themes=[WASTE])
    assert _said(waste) == [
        (2, "resident", "bins not collected at [address]"),
        (2, "bot", "Noted under bins."),
        (2, "resident", DAMP),  # its second theme
        (2, "bot", "Noted twice 👍🏽."),
    ]
    assert _rows(database, tracker, themes=[PARKS]) == []  # only Bob, who refused
    # The channel and the area pick residents; the dates pick turns.
    assert {r["resident"] for r in _rows(database, tracker, channel="telegram")} == {
        pseudonym(conversations["ann"][0], KEY)
    }
    assert {r["resident"] for r in _rows(database, tracker, areas=["LS6"])} == {
        pseudonym(conversations["cat"][0], KEY)
    }
    day1, day3 = T0 + timedelta(days=1), T0 + timedelta(days=3)
    assert [r["text"] for r in _rows(database, tracker, since=day1, until=day3)] == [
        "bins not collected at [address]", "Noted under bins.",
        "more council houses please", "Noted under housing.",
    ]  # fmt: skip


def test_consent_intervals_run_from_each_consent_to_its_withdrawal(database):
    t = [T0 + n * HOUR for n in range(7)]
    with database.transaction() as s:
        dee = resident_for(s, "sms", "+447700900003")
        consent_at(s, dee, given=False, at=t[0])
        consent_at(s, dee, given=True, at=t[1])
        # No view is kept while they are opted out (STOP), so no turn of that time leaves.
        s.add(ConsentEvent(resident_id=dee.id, kind="opted_out", store_views=True,
                           contact=False, channel="sms", created_at=t[2]))  # fmt: skip
        s.add(ConsentEvent(resident_id=dee.id, kind="opted_in", store_views=True,
                           contact=True, channel="sms", created_at=t[3]))  # fmt: skip
        consent_at(s, dee, given=False, at=t[4])
        consent_at(s, dee, given=True, at=t[5])
        assert consented_intervals(s, dee.id) == [(t[1], t[2]), (t[3], t[4]), (t[5], None)]


def test_both_formats_are_typed_and_the_export_is_audited(
    database, tracker, conversations, tmp_path
):
    import pyarrow.parquet as pq

    parquet, jsonl = tmp_path / "talk.parquet", tmp_path / "talk.jsonl"
    assert run_export(database, parquet, "conversations", "parquet", tracker=tracker.database) == 9
    table = pq.read_table(parquet)
    assert table.column("text").to_pylist()[-2:] == [DAMP, "Noted twice 👍🏽."]  # byte-exact
    schema = {field.name: str(field.type) for field in table.schema}
    assert schema == {
        "resident": "string", "session": "int64", "timestamp": "timestamp[us, tz=UTC]",
        "speaker": "string", "text": "string", "intent": "string", "theme": "string",
        "action": "string",
    }  # fmt: skip
    run_export(database, jsonl, "conversations", "jsonl", tracker=tracker.database)
    assert json.loads(jsonl.read_bytes().splitlines()[-2])["text"] == DAMP  # byte-exact
    assert run_export(
        database, jsonl, "conversations", "jsonl", tracker=tracker.database, themes=[ROADS]
    ) == 3  # fmt: skip
    first = json.loads(jsonl.read_text(encoding="utf-8").splitlines()[1])
    assert first["timestamp"] == "2026-11-02T11:02:00+00:00" and first["session"] == 1
    with database.transaction() as s:
        details = [
            json.loads(event.detail)
            for event in s.scalars(
                select(AuditEvent).where(AuditEvent.action == "export.conversations")
                .order_by(AuditEvent.id)
            )
        ]  # fmt: skip
    assert details == [
        {"format": "parquet", "filters": {}, "rows": 9},
        {"format": "jsonl", "filters": {}, "rows": 9},
        {"format": "jsonl", "filters": {"themes": [ROADS]}, "rows": 3},
    ]


def test_refusals_are_one_line_and_leave_no_file(database, tracker, conversations, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "talk.jsonl"
    for filters, message in (
        ({"question_id": 2}, "--question does not apply to an export of conversations"),
        ({"update_id": 2}, "--update does not apply to an export of conversations"),
    ):
        with pytest.raises(ExportError) as refused:
            run_export(database, path, "conversations", "jsonl", tracker=tracker.database,
                       **filters)  # fmt: skip
        assert str(refused.value) == message
    with pytest.raises(ExportError, match="needs Rasa's tracker store"):
        run_export(database, path, "conversations", "jsonl")
    with pytest.raises(ExportError, match="conversations come as jsonl or parquet, not csv"):
        ExportRequest("conversations", "csv", ExportFilter())
    assert list(folder.iterdir()) == []


def test_no_tracker_store_yet_means_no_turns(database, tmp_path):
    """Before Rasa's first start there is no `events` table: an empty export, no error."""
    empty = Database(f"sqlite:///{tmp_path / 'no-rasa-yet.db'}")
    path = tmp_path / "talk.jsonl"
    with database.transaction() as s:
        count = export(
            s, ExportRequest("conversations", "jsonl", ExportFilter()), path, key=KEY,
            actor="t", tracker=empty,
        )  # fmt: skip
    empty.dispose()
    assert count == 0 and path.read_bytes() == b""


def test_the_messages_of_a_view_officers_hid_are_left_out(database, tracker, conversations):
    from bot.services.curation import hide
    from bot.services.views import store_view

    with database.transaction() as s:
        cat = s.get(Resident, conversations["cat"][0])
        view = store_view(s, cat, text="more council houses please", theme_key=HOUSING,
                          confidence=0.9, channel="sms")  # fmt: skip
        hide(s, [view.id], "test", actor="officer@council.example")
    cat_rows = [r for r in _rows(database, tracker) if r["resident"] == pseudonym(
        conversations["cat"][0], KEY)]  # fmt: skip
    assert _said(cat_rows) == [(2, "resident", DAMP), (2, "bot", "Noted twice 👍🏽.")]
