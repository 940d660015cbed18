"""Reactions to an update: one per resident's message, however often the turn is run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.models import UpdateReaction, View
from bot.services.consent import opt_out
from bot.services.identities import resident_at
from bot.services.inbound import Incoming, accept
from bot.services.reactions import Reacted, react_to_update, record_reaction
from bot.services.views import store_view
from tests.residents import add_resident, update_sent_to

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
PHONE = "+447700900001"


def sent_update(database) -> tuple[int, str]:
    """An update sent to one resident: its outbox id and the resident's conversation."""
    with database.transaction() as s:
        resident = add_resident(s, "sms", PHONE)
        return update_sent_to(s, resident, T0), resident.conversation_id


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


# Keyed by the conversation id, as the actions call them -----------------------------------


def reply(database, outbox_id, conversation_id, text, kind, follow_up=False) -> Reacted | None:
    with database.transaction() as s:
        return react_to_update(s, conversation_id, outbox_id, kind=kind, text=text,
                               channel="sms", follow_up=follow_up, theme_key="roads_transport",
                               confidence=0.8, inbox_id=message(database, text))  # fmt: skip


def test_a_reply_keeps_its_words_only_when_they_say_more_than_yes_or_no(database):
    outbox_id, conversation_id = sent_update(database)
    helped = reply(database, outbox_id, conversation_id, "yes", "helped")
    more = reply(database, outbox_id, conversation_id, "yes the 42 is on time now", "helped")
    assert isinstance(helped, Reacted) and isinstance(more, Reacted)
    with database.transaction() as s:
        assert s.get(UpdateReaction, helped.reaction_id).view_id is None
        view = s.get(View, s.get(UpdateReaction, more.reaction_id).view_id)
        assert view.text == "yes the 42 is on time now"


def test_a_follow_up_joins_the_reaction_it_follows(database):
    outbox_id, conversation_id = sent_update(database)
    first = reply(database, outbox_id, conversation_id, "no", "not_helped")
    why = reply(database, outbox_id, conversation_id, "it's on Victoria Rd", "comment", True)
    assert first is not None and why == first  # the same reaction, now with words
    with database.transaction() as s:
        [reaction] = s.scalars(select(UpdateReaction)).all()
        assert s.get(View, reaction.view_id).text == "it's on Victoria Rd"


def test_a_follow_up_with_no_reaction_to_join_is_a_comment_of_its_own(database):
    outbox_id, conversation_id = sent_update(database)
    why = reply(database, outbox_id, conversation_id, "more buses", "comment", True)
    with database.transaction() as s:
        [reaction] = s.scalars(select(UpdateReaction)).all()
        assert why == Reacted(reaction.id) and reaction.kind == "comment"


def test_a_reply_to_someone_elses_update_or_after_an_opt_out_is_not_kept(database):
    outbox_id, conversation_id = sent_update(database)
    with database.transaction() as s:
        add_resident(s, "sms", "+447700900002")
        other = resident_at(s, "sms", "+447700900002").conversation_id
    assert reply(database, outbox_id, other, "no", "not_helped") is None
    with database.transaction() as s:
        opt_out(s, resident_at(s, "sms", PHONE), channel="sms")
    assert reply(database, outbox_id, conversation_id, "still late", "comment") is None
    with database.transaction() as s:
        assert s.scalars(select(UpdateReaction)).all() == []


def test_only_residents_sent_an_update_in_the_reply_window_may_be_replying(database):
    """The inbox worker's one query for a batch: a superset of `update_awaiting_reply`."""
    from bot.services.reactions import REPLY_WINDOW, may_reply_to_update, update_awaiting_reply

    _, told = sent_update(database)
    with database.transaction() as s:
        untold = add_resident(s, "sms", "+447700900002").conversation_id
    now = T0 + timedelta(hours=1)
    with database.transaction() as s:
        assert may_reply_to_update(s, [told, untold, "nobody"], now) == {told}
        assert update_awaiting_reply(s, untold, None, now) is None
        assert may_reply_to_update(s, [told], T0 + REPLY_WINDOW + timedelta(hours=1)) == set()
        assert may_reply_to_update(s, [], now) == set()
