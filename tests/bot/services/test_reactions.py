"""Reactions to an update: one per resident's message, however often the turn is run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.models import OutboxMessage, UpdateReaction, View
from bot.services.consent import record_consent
from bot.services.identities import conversation_for, resident_at
from bot.services.inbound import Incoming, accept
from bot.services.reactions import record_reaction
from bot.services.updates import draft_update, publish
from bot.services.views import store_view

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
PHONE = "+447700900001"


def sent_update(database) -> tuple[int, str]:
    """An update sent to one resident: its outbox id and the resident's conversation."""
    with database.transaction() as s:
        conversation_id = conversation_for(s, "sms", PHONE)
        resident = resident_at(s, "sms", PHONE)
        record_consent(s, resident, given=True, wording="w", channel="sms")
        store_view(s, resident, text="buses", theme_key="roads_transport", confidence=0.9,
                   channel="sms")  # fmt: skip
        update = draft_update(s, title="Buses", you_said="buses stop early",
                              we_did="The 42 runs later.", created_by="t",
                              themes=["roads_transport"])  # fmt: skip
        publish(s, update.id)
        row = s.scalars(select(OutboxMessage)).one()
        row.status, row.sent_at, row.provider_id = "sent", T0, "SM1"
        return row.id, conversation_id


def message(database, text: str) -> int:
    with database.transaction() as s:
        return accept(s, Incoming("sms", PHONE, text), T0 + timedelta(hours=1)).inbox_id


def react(database, outbox_id, conversation_id, inbox_id, kind="helped", text="") -> int:
    with database.transaction() as s:
        reaction = record_reaction(s, outbox_id, conversation_id, kind=kind, channel="sms",
                                   text=text, theme_key="roads_transport", confidence=0.8,
                                   inbox_id=inbox_id)  # fmt: skip
        return reaction.id


def test_a_reaction_from_one_message_is_recorded_once(database):
    outbox_id, conversation_id = sent_update(database)
    inbox_id = message(database, "yes")
    first = react(database, outbox_id, conversation_id, inbox_id)
    assert react(database, outbox_id, conversation_id, inbox_id) == first  # the turn again
    with database.transaction() as s:
        rows = s.scalars(select(UpdateReaction)).all()
        assert [(r.id, r.kind, r.inbox_id) for r in rows] == [(first, "helped", inbox_id)]
    second = react(database, outbox_id, conversation_id, message(database, "no"), "not_helped")
    assert second != first  # another message is another reaction
    with database.transaction() as s:
        assert len(s.scalars(select(UpdateReaction)).all()) == 2


def test_a_comment_from_one_message_keeps_one_reaction_and_one_view(database):
    outbox_id, conversation_id = sent_update(database)
    inbox_id = message(database, "the 42 is still late")
    first = react(database, outbox_id, conversation_id, inbox_id, "comment", "still late")
    again = react(database, outbox_id, conversation_id, inbox_id, "comment", "still late")
    assert again == first
    with database.transaction() as s:
        [reaction] = s.scalars(select(UpdateReaction)).all()
        [view] = s.scalars(select(View).where(View.inbox_id == inbox_id)).all()
        assert reaction.view_id == view.id and view.text == "still late"
        assert len(s.scalars(select(View)).all()) == 2  # the seeded view and this one


def test_a_comment_whose_view_was_kept_before_a_crash_is_completed_once(database):
    """The view was stored, the reaction was not (the turn failed between): run again."""
    outbox_id, conversation_id = sent_update(database)
    inbox_id = message(database, "more please")
    with database.transaction() as s:
        resident = resident_at(s, "sms", PHONE)
        view_id = store_view(s, resident, text="more please", theme_key="roads_transport",
                             confidence=0.8, channel="sms", inbox_id=inbox_id).id  # fmt: skip
    reaction_id = react(database, outbox_id, conversation_id, inbox_id, "comment", "more please")
    with database.transaction() as s:
        assert s.get(UpdateReaction, reaction_id).view_id == view_id
        assert len(s.scalars(select(View).where(View.inbox_id == inbox_id)).all()) == 1
