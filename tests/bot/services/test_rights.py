"""Residents' rights: the summary, the full copy, erasure from every table and from Rasa's
tracker store, the do-not-contact list, and forgetting the latest view."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from sqlalchemy import select, text

from bot.erasure import Eraser
from bot.models import AuditEvent, Base, DoNotContact, Resident
from bot.services.consent import record_consent
from bot.services.identities import resident_for
from bot.services.rights import (
    address_hash,
    forget_last_view,
    is_blocked,
    request_erasure,
    resident_at_address,
    subject_access,
    summary,
    unblock,
)
from bot.services.views import set_area, store_view
from tests.tracker import clear_events, save_conversation, tracker_store_for

PHONE, CHAT = "+447700900123", "98765432"
WORDS = "the potholes on Quarry Mount are a disgrace"
KEY = "dnc-test-key"
T0 = datetime(2026, 11, 2, 10, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def tracker(database):
    """Rasa's tracker store on the test database, emptied afterwards."""
    store = tracker_store_for(database)
    yield store
    clear_events(database)
    store.engine.dispose()


@pytest.fixture
def jo(database, tracker):
    """A resident on SMS and Telegram with two views and a conversation; and someone else."""
    with database.transaction() as s:
        jo = resident_for(s, "sms", PHONE)
        s.flush()
        s.add(type(jo.identities[0])(resident_id=jo.id, channel="telegram", address=CHAT))
        record_consent(s, jo, given=True, wording="Can we keep it?", channel="sms")
        set_area(s, jo, "LS6")
        store_view(s, jo, text=WORDS, theme_key="roads_transport", confidence=0.9, channel="sms")
        store_view(s, jo, text="more bins please", theme_key="waste_recycling", confidence=0.8,
                   channel="sms")  # fmt: skip
        other = resident_for(s, "sms", "+447700900999")
        record_consent(s, other, given=True, wording="Can we keep it?", channel="sms")
        store_view(s, other, text="the park is lovely", theme_key="parks_green_spaces",
                   confidence=0.9, channel="sms")  # fmt: skip
        ids = {"jo": jo.id, "other": other.id, "jo_cid": jo.conversation_id,
               "other_cid": other.conversation_id}  # fmt: skip
    for cid, said in ((ids["jo_cid"], WORDS), (ids["other_cid"], "the park is lovely")):
        save_conversation(tracker, cid, [
            ActionExecuted("action_session_start", timestamp=T0), SessionStarted(timestamp=T0),
            UserUttered(said, intent={"name": "share_view"}, timestamp=T0 + 1),
            BotUttered("Thanks, noted.", timestamp=T0 + 2),
        ])  # fmt: skip
    return ids


def _everything(database) -> str:
    """Every row of every table, ours and Rasa's, as one string to search."""
    found = []
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found += [repr(tuple(row)) for row in connection.execute(table.select())]
        found += [repr(tuple(row)) for row in connection.execute(text("SELECT * FROM events"))]
    return "\n".join(found)


def test_summary_and_finding_by_address(database, jo):
    with database.transaction() as s:
        assert resident_at_address(s, "sms", PHONE).id == jo["jo"]
        assert resident_at_address(s, "telegram", CHAT).id == jo["jo"]
        assert resident_at_address(s, "sms", "+447700900000") is None
        line = summary(s, jo["jo"]).line()
    assert f"resident {jo['jo']}" in line and "sms/telegram" in line and "2 views" in line
    assert PHONE not in line and CHAT not in line and "pothole" not in line


def test_the_full_copy_holds_all_of_theirs_and_nothing_of_anyone_else(database, jo):
    with database.transaction() as s, database.engine.connect() as connection:
        copy = subject_access(s, connection, jo["jo"])
    dumped = json.dumps(copy, default=str)
    assert {i["address"] for i in copy["channel_identities"]} == {PHONE, CHAT}
    assert [v["text"] for v in copy["views"]] == [WORDS, "more bins please"]
    assert copy["consent_events"][0]["kind"] == "given"
    assert copy["consent_wordings"][0]["text"] == "Can we keep it?"
    assert [e.get("text") for e in copy["conversation"] if e["type"] in ("user", "bot")] == [
        WORDS, "Thanks, noted."
    ]  # fmt: skip
    assert "park is lovely" not in dumped and "+447700900999" not in dumped
    assert jo["other_cid"] not in dumped


def test_erasure_leaves_nothing_of_them_anywhere_and_keeps_everyone_else(database, jo):
    erased = Eraser(database, database, KEY).erase(jo["jo"], actor="cli:dpo")
    assert erased.tracker_events == 4 and erased.blocked_addresses == 2
    assert erased.rows["views"] == 2 and erased.rows["channel_identities"] == 2
    everything = _everything(database)
    for trace in (PHONE, CHAT, jo["jo_cid"], "potholes", "Quarry Mount", "more bins"):
        assert trace not in everything
    assert "the park is lovely" in everything and "+447700900999" in everything
    with database.transaction() as s:
        hollow = s.get(Resident, jo["jo"])  # kept, empty, so its id is never reused
        assert hollow.erased_at is not None and hollow.area is None and not hollow.contact_ok
        assert summary(s, jo["jo"]) is None
        listed = s.scalars(select(DoNotContact.address_hash)).all()
        assert sorted(listed) == sorted(
            [address_hash("sms", PHONE, KEY), address_hash("telegram", CHAT, KEY)]
        )
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "resident.erase")).all()
        assert event.actor == "cli:dpo" and PHONE not in event.detail
    assert Eraser(database, database, KEY).erase(jo["jo"], actor="cli:dpo") is None


def test_a_later_message_starts_afresh_and_is_blocked_until_they_consent(database, jo):
    Eraser(database, database, KEY).erase(jo["jo"], actor="cli:dpo")
    with database.transaction() as s:
        again = resident_for(s, "sms", PHONE)
        assert again.id > jo["other"]  # a new id, never the erased one
        assert again.consent is None and not again.contact_ok
        assert is_blocked(s, "sms", PHONE, KEY)
        record_consent(s, again, given=True, wording="Can we keep it?", channel="sms")
        unblock(s, again, KEY)
        assert not is_blocked(s, "sms", PHONE, KEY)
        assert is_blocked(s, "telegram", CHAT, KEY)  # not theirs any more: still listed


def test_erasure_asked_in_the_conversation_waits_for_the_reply(database, jo):
    eraser = Eraser(database, database, KEY)
    assert not eraser.erase_if_asked(jo["jo_cid"])  # not asked: nothing happens
    with database.transaction() as s:
        assert request_erasure(s, jo["jo_cid"])
    assert eraser.erase_if_asked(jo["jo_cid"])
    assert "potholes" not in _everything(database)


def test_forgetting_the_latest_view_only(database, jo):
    with database.transaction() as s:
        assert forget_last_view(s, jo["jo_cid"]).text == "more bins please"
    with database.transaction() as s:
        assert summary(s, jo["jo"]).views == 1
    everything = _everything(database)
    assert "more bins" not in everything and WORDS in everything
