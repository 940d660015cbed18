"""Consent, opt-out and opt-in: events appended, the resident's state kept in step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.models import ChannelIdentity, ConsentEvent, ConsentWording, DoNotContact
from bot.services.consent import (
    Consent,
    Subscription,
    answer_consent,
    opt_in,
    opt_in_conversation,
    opt_out,
    opt_out_conversation,
    record_consent,
    wording_version,
)
from bot.services.residents import get_or_create_resident, resident_state
from bot.services.rights import address_hash, is_blocked

WORDING = "Can we keep what you tell us? Reply YES or NO."


def test_consent_given_is_recorded_with_the_wording_shown(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        record_consent(s, resident, given=True, wording=WORDING, channel="rest")
    with database.transaction() as s:
        event = s.scalars(select(ConsentEvent)).one()
        assert (event.kind, event.store_views, event.contact) == ("given", True, True)
        assert event.wording_version == wording_version(WORDING)
        assert s.get(ConsentWording, event.wording_version).text == WORDING
        assert event.created_at.tzinfo is not None
        assert resident_state(s, "conv-1").consent == "given"


def test_refusal_is_recorded_and_allows_nothing(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        record_consent(s, resident, given=False, wording=WORDING, channel="rest")
    with database.transaction() as s:
        event = s.scalars(select(ConsentEvent)).one()
        assert (event.kind, event.store_views, event.contact) == ("refused", False, False)
        assert resident_state(s, "conv-1").consent == "refused"


def test_a_new_wording_gets_a_new_version_and_the_old_one_is_kept(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        record_consent(s, resident, given=True, wording=WORDING, channel="rest")
        record_consent(s, resident, given=True, wording=WORDING + " Thanks.", channel="rest")
        record_consent(s, resident, given=True, wording=WORDING, channel="rest")
    with database.transaction() as s:
        assert len(s.scalars(select(ConsentWording)).all()) == 2
        assert len(s.scalars(select(ConsentEvent)).all()) == 3


def test_opt_out_then_opt_in(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        record_consent(s, resident, given=True, wording=WORDING, channel="rest")
        assert opt_out(s, resident, channel="rest") is True
        assert opt_out(s, resident, channel="rest") is False  # one record, not two
    with database.transaction() as s:
        state = resident_state(s, "conv-1")
        assert state.opted_out and state.consent == "given"
        resident = get_or_create_resident(s, "conv-1", "rest")
        assert resident.contact_ok is False
        assert opt_in(s, resident, channel="rest") is True
        assert opt_in(s, resident, channel="rest") is False
    with database.transaction() as s:
        kinds = s.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
        assert kinds == ["given", "opted_out", "opted_in"]
        assert not resident_state(s, "conv-1").opted_out
        assert get_or_create_resident(s, "conv-1", "rest").contact_ok is True


def test_opt_in_without_consent_does_not_allow_contact(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        opt_out(s, resident, channel="rest")
        opt_in(s, resident, channel="rest")
        assert resident.contact_ok is False


def test_consent_events_cannot_be_rewritten(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        record_consent(s, resident, given=True, wording=WORDING, channel="rest")
    with pytest.raises(ValueError, match="append-only"), database.transaction() as s:
        s.scalars(select(ConsentEvent)).one().kind = "refused"
    with database.transaction() as s:
        assert s.scalars(select(ConsentEvent.kind)).one() == "given"


# Keyed by the conversation id, as the actions call them -----------------------------------

KEY = "dnc-test-key"


def test_a_consent_answer_meets_a_new_resident_and_records_the_wording(database):
    with database.transaction() as s:
        assert answer_consent(s, "conv-1", given=False, wording=WORDING, channel="rest") == (
            Consent("refused")
        )
        assert answer_consent(s, "conv-2", given=True, wording=WORDING, channel="rest",
                              do_not_contact_key=KEY) == Consent("given")  # fmt: skip
    with database.transaction() as s:
        assert resident_state(s, "conv-1").consent == "refused"
        assert resident_state(s, "conv-2").consent == "given"
        assert {i.address for i in s.scalars(select(ChannelIdentity))} == {"conv-1", "conv-2"}
        assert (
            s.scalars(select(ConsentEvent.wording_version)).all() == [wording_version(WORDING)] * 2
        )


def test_a_yes_takes_them_off_the_do_not_contact_list_and_a_no_does_not(database):
    with database.transaction() as s:
        s.add(DoNotContact(channel="rest", address_hash=address_hash("rest", "conv-1", KEY)))
        s.flush()
        answer_consent(s, "conv-1", given=False, wording=WORDING, channel="rest")
        assert is_blocked(s, "rest", "conv-1", KEY)
        with pytest.raises(ValueError):  # a yes cannot forget the list
            answer_consent(s, "conv-1", given=True, wording=WORDING, channel="rest")
        answer_consent(s, "conv-1", given=True, wording=WORDING, channel="rest",
                       do_not_contact_key=KEY)  # fmt: skip
        assert not is_blocked(s, "rest", "conv-1", KEY)


def test_stop_and_start_from_a_conversation_say_what_changed_and_the_rhythm(database):
    with database.transaction() as s:
        answer_consent(s, "conv-1", given=True, wording=WORDING, channel="rest",
                       do_not_contact_key=KEY)  # fmt: skip
        assert opt_out_conversation(s, "conv-1", channel="rest") == Subscription(True, "monthly")
        assert opt_out_conversation(s, "conv-1", channel="rest") == Subscription(False, "monthly")
        assert opt_in_conversation(s, "conv-1", channel="rest") == Subscription(True, "monthly")
        assert opt_in_conversation(s, "conv-1", channel="rest") == Subscription(False, "monthly")
        # STOP from someone we never met: met now, and opted out.
        assert opt_out_conversation(s, "stranger", channel="rest").changed
        assert resident_state(s, "stranger").opted_out
