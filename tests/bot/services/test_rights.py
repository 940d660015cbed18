"""Residents' rights: the summary, the full copy, erasure from every table and from Rasa's
tracker store, the do-not-contact list, and forgetting the latest view."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.erasure import Eraser
from bot.models import AuditEvent, DoNotContact, Resident
from bot.services.consent import record_consent
from bot.services.identities import resident_at, resident_for
from bot.services.rights import (
    ResidentSummary,
    address_hash,
    forget_last_view,
    is_blocked,
    request_erasure,
    subject_access,
    summary,
    summary_for,
    unblock,
)
from tests.residents import CHAT, PHONE, WORDS, everything, two_residents

KEY = "dnc-test-key"


@pytest.fixture
def jo(database, tracker):
    """A resident on SMS and Telegram with two views and a conversation; and someone else."""
    return two_residents(database, tracker)


def test_summary_and_finding_by_address(database, jo):
    with database.transaction() as s:
        assert resident_at(s, "sms", PHONE).id == jo["jo"]
        assert resident_at(s, "telegram", CHAT).id == jo["jo"]
        assert resident_at(s, "sms", "+447700900000") is None
        line = summary(s, jo["jo"]).line()
    assert f"resident {jo['jo']}" in line and "sms/telegram" in line and "2 views" in line
    assert PHONE not in line and CHAT not in line and "pothole" not in line


def test_the_summary_line_of_one_view_and_no_consent_answer_reads_right():
    joined = datetime(2026, 9, 14, tzinfo=timezone.utc)
    one = ResidentSummary(7, joined, ("sms",), None, None, "monthly", 1, (("housing", 1),))
    assert one.line() == (
        "resident 7: joined 2026-09-14 on sms, consent not answered, area unknown, monthly, "
        "1 view (housing 1)"
    )


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
    found = everything(database)
    for trace in (PHONE, CHAT, jo["jo_cid"], "potholes", "Quarry Mount", "more bins"):
        assert trace not in found
    assert "the park is lovely" in found and "+447700900999" in found
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
    assert "potholes" not in everything(database)


def test_forgetting_the_latest_view_only(database, jo):
    with database.transaction() as s:
        assert forget_last_view(s, jo["jo_cid"]).text == "more bins please"
    with database.transaction() as s:
        assert summary(s, jo["jo"]).views == 1
    found = everything(database)
    assert "more bins" not in found and WORDS in found


def test_the_summary_is_found_by_conversation_and_not_after_erasure(database, jo):
    with database.transaction() as s:
        mine = summary_for(s, str(jo["jo_cid"]))
        assert mine == summary(s, jo["jo"])
        assert mine is not None and (mine.views, mine.area) == (2, "LS6")
        assert summary_for(s, "nobody") is None
    Eraser(database, database, KEY).erase(jo["jo"], actor="cli:dpo")
    with database.transaction() as s:
        assert summary_for(s, str(jo["jo_cid"])) is None
