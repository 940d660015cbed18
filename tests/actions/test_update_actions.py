"""Replies to an update: recognised from the database, stored against it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from actions.updates import ActionReactToUpdate, ActionUpdateContext
from bot.models import ChannelIdentity, UpdateReaction, View
from bot.services.residents import find_resident
from tests.actions.conftest import SENDER, make_tracker, responses, slots
from tests.residents import update_sent_to

GIVEN = {"consent": "given"}


def _sent_update(database, sent_at: datetime) -> int:
    with database.transaction() as s:
        resident = find_resident(s, SENDER)
        resident.contact_ok = True
        s.add(ChannelIdentity(resident_id=resident.id, channel="sms", address="+447700900001"))
        return update_sent_to(s, resident, sent_at)


def _with_history(tracker, *timestamps: float):
    """Give the tracker earlier turns at these times, then the latest message now."""
    earlier = [{"event": "bot", "timestamp": t} for t in timestamps]
    tracker.events = [
        *earlier,
        {"event": "user", "timestamp": datetime.now(timezone.utc).timestamp()},
    ]
    return tracker


async def test_a_message_after_an_update_replies_to_it(database, settings, dispatcher, domain,
                                                       consented):  # fmt: skip
    sent = datetime.now(timezone.utc) - timedelta(hours=2)
    outbox_id = _sent_update(database, sent)
    before = (sent - timedelta(days=1)).timestamp()
    tracker = _with_history(make_tracker(intent="affirm", slots=GIVEN), before)
    events = await ActionUpdateContext(database, settings).run(dispatcher, tracker, domain)
    assert slots(events) == {"stage": "update_reply", "update_outbox_id": outbox_id}


async def test_not_a_reply_when_the_conversation_moved_on(database, settings, dispatcher,
                                                          domain, consented):  # fmt: skip
    sent = datetime.now(timezone.utc) - timedelta(hours=2)
    _sent_update(database, sent)
    after = (sent + timedelta(minutes=5)).timestamp()  # the bot said something since
    tracker = _with_history(make_tracker(intent="affirm", slots=GIVEN), after)
    assert await ActionUpdateContext(database, settings).run(dispatcher, tracker, domain) == []


async def test_not_a_reply_after_the_window(database, settings, dispatcher, domain, consented):
    _sent_update(database, datetime.now(timezone.utc) - timedelta(days=15))
    tracker = _with_history(make_tracker(intent="affirm", slots=GIVEN))
    assert await ActionUpdateContext(database, settings).run(dispatcher, tracker, domain) == []


async def test_helped_not_helped_and_a_comment(database, settings, dispatcher, domain, consented):
    outbox_id = _sent_update(database, datetime.now(timezone.utc))
    context = {**GIVEN, "stage": "update_reply", "update_outbox_id": outbox_id}
    action = ActionReactToUpdate(database, settings)

    events = await action.run(dispatcher, make_tracker(intent="affirm", slots=context), domain)
    assert responses(dispatcher) == ["utter_update_helped"]
    assert slots(events) == {"stage": None, "update_outbox_id": None}

    dispatcher.messages.clear()
    events = await action.run(dispatcher, make_tracker(intent="deny", slots=context), domain)
    assert responses(dispatcher) == ["utter_update_not_helped"]
    assert slots(events) == {"stage": "update_why"}

    dispatcher.messages.clear()
    why = {**context, "stage": "update_why"}
    tracker = make_tracker(intent="share_view", text="still no bus after 10pm on Sundays",
                           theme=("roads_transport", 0.93), slots=why)  # fmt: skip
    events = await action.run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_update_comment_noted"]
    assert dispatcher.messages[0]["theme_label"]
    with database.transaction() as s:
        kinds = [(r.kind, r.view_id is not None) for r in s.scalars(select(UpdateReaction))]
        # What they said after "it did not help" belongs to that reaction.
        assert kinds == [("helped", False), ("not_helped", True)]
        comment = s.scalars(select(View).where(View.text.like("still no bus%"))).one()
        assert comment.theme_key == "roads_transport"


async def test_a_reply_that_starts_negative_did_not_help_and_keeps_its_words(
    database, settings, dispatcher, domain, consented
):
    outbox_id = _sent_update(database, datetime.now(timezone.utc))
    context = {**GIVEN, "stage": "update_reply", "update_outbox_id": outbox_id}
    action = ActionReactToUpdate(database, settings)
    first = "not really, the one outside the school still isnt done"
    tracker = make_tracker(intent="share_view", text=first,
                           theme=("children_young_people", 0.7), slots=context)  # fmt: skip
    events = await action.run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_update_not_helped"]
    assert slots(events) == {"stage": "update_why"}

    dispatcher.messages.clear()
    why = {**context, "stage": "update_why"}
    tracker = make_tracker(intent="share_view", text="it's on Victoria Rd",
                           theme=("roads_transport", 0.5), slots=why)  # fmt: skip
    await action.run(dispatcher, tracker, domain)
    with database.transaction() as s:
        [reaction] = s.scalars(select(UpdateReaction)).all()
        assert reaction.kind == "not_helped"
        assert s.get(View, reaction.view_id).text == f"{first}\nit's on Victoria Rd"
        assert not s.scalars(select(View).where(View.text == "it's on Victoria Rd")).all()


async def test_a_bare_no_after_it_did_not_help_closes(
    database, settings, dispatcher, domain, consented
):
    outbox_id = _sent_update(database, datetime.now(timezone.utc))
    why = {**GIVEN, "stage": "update_why", "update_outbox_id": outbox_id}
    tracker = make_tracker(intent="deny", text="no", slots=why)
    events = await ActionReactToUpdate(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_update_reply_closed"]
    assert slots(events) == {"stage": None, "update_outbox_id": None}


async def test_someone_elses_update_is_not_stored(database, settings, dispatcher, domain,
                                                  consented):  # fmt: skip
    outbox_id = _sent_update(database, datetime.now(timezone.utc))
    context = {**GIVEN, "stage": "update_reply", "update_outbox_id": outbox_id}
    tracker = make_tracker(intent="affirm", slots=context, sender="someone-else")
    await ActionReactToUpdate(database, settings).run(dispatcher, tracker, domain)
    with database.transaction() as s:
        assert s.scalars(select(UpdateReaction)).all() == []
