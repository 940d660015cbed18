"""Session start, consent, STOP and START actions."""

from __future__ import annotations

from sqlalchemy import select

from actions.consent import ActionRecordConsent, consent_wording
from actions.opt_out import ActionOptIn, ActionOptOut
from actions.session import ActionSessionStart
from bot.models import ConsentEvent, ConsentWording, View
from bot.services.consent import opt_out
from bot.services.residents import find_resident
from tests.actions.conftest import SENDER, make_tracker, responses, slots


async def test_session_start_loads_the_resident_and_carries_the_stage(
    database, settings, dispatcher, domain, consented
):
    with database.transaction() as s:
        opt_out(s, find_resident(s, SENDER), channel="rest")
    tracker = make_tracker(slots={"stage": "more", "pending_view_id": 3})
    events = await ActionSessionStart(database, settings).run(dispatcher, tracker, domain)
    assert events[0]["event"] == "session_started"
    assert events[-1] == {"event": "action", "name": "action_listen", **_action_extra(events[-1])}
    assert slots(events) == {
        "stage": "more",
        "pending_view_id": 3,
        "consent": "given",
        "opted_out": True,
        "org_name": "Leeds Listens",
        "privacy_url": "https://leeds.example/p",
    }
    assert dispatcher.messages == []


def _action_extra(event):
    return {k: v for k, v in event.items() if k not in ("event", "name")}


async def test_session_start_for_a_stranger(database, settings, dispatcher, domain):
    events = await ActionSessionStart(database, settings).run(dispatcher, make_tracker(), domain)
    assert slots(events)["consent"] is None and slots(events)["opted_out"] is False


async def test_yes_records_consent_with_the_wording_shown(database, settings, dispatcher, domain):
    tracker = make_tracker(intent="affirm", text="yes ok", slots={"stage": "consent"})
    events = await ActionRecordConsent(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_consent_given"]
    assert slots(events) == {"consent": "given", "stage": "view"}
    wording = consent_wording(
        domain, {"org_name": "Leeds Listens", "privacy_url": "https://leeds.example/p"}
    )
    assert "Hi, this is Leeds Listens" in wording and "Reply YES or NO" in wording
    with database.transaction() as s:
        event = s.scalars(select(ConsentEvent)).one()
        assert event.kind == "given" and event.channel == "rest"
        assert s.get(ConsentWording, event.wording_version).text == wording


async def test_no_records_refusal(database, settings, dispatcher, domain):
    tracker = make_tracker(intent="deny", text="no", slots={"stage": "consent"})
    events = await ActionRecordConsent(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_consent_declined"]
    assert slots(events) == {"consent": "refused", "stage": None, "held_views": None}
    with database.transaction() as s:
        assert s.scalars(select(ConsentEvent.kind)).one() == "refused"


async def test_stop_confirms_once(database, settings, dispatcher, domain, consented):
    tracker = make_tracker(intent="opt_out", text="STOP", slots={"consent": "given"})
    events = await ActionOptOut(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_opted_out"]
    assert slots(events) == {"opted_out": True, "stage": None}
    again = type(dispatcher)()
    later = make_tracker(intent="opt_out", text="STOP", slots={"consent": "given", **slots(events)})
    await ActionOptOut(database, settings).run(again, later, domain)
    assert again.messages == []
    with database.transaction() as s:
        assert s.scalars(select(ConsentEvent.kind)).all() == ["given", "opted_out"]


async def test_stop_already_recorded_by_the_gateway_is_still_confirmed_once(
    database, settings, dispatcher, domain, consented
):
    """The gateway opts out at once (Rasa may be down); the conversation confirms it."""
    with database.transaction() as s:
        opt_out(s, find_resident(s, SENDER), channel="rest")
    tracker = make_tracker(intent="opt_out", text="STOP", slots={"consent": "given"})
    events = await ActionOptOut(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_opted_out"]
    assert slots(events)["opted_out"] is True
    with database.transaction() as s:
        assert s.scalars(select(ConsentEvent.kind)).all() == ["given", "opted_out"]


async def test_stop_from_a_stranger_is_recorded_too(database, settings, dispatcher, domain):
    tracker = make_tracker(intent="opt_out", text="stop")
    await ActionOptOut(database, settings).run(dispatcher, tracker, domain)
    with database.transaction() as s:
        assert find_resident(s, SENDER).opted_out_at is not None


async def test_start_after_stop(database, settings, dispatcher, domain, consented):
    with database.transaction() as s:
        opt_out(s, find_resident(s, SENDER), channel="rest")
    tracker = make_tracker(intent="opt_in", slots={"consent": "given", "opted_out": True})
    events = await ActionOptIn(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_opted_in_monthly"]
    assert slots(events) == {"opted_out": False}


async def test_start_when_not_stopped(database, settings, dispatcher, domain, consented):
    tracker = make_tracker(intent="opt_in", slots={"consent": "given"})
    await ActionOptIn(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_still_subscribed_monthly"]


async def test_start_without_consent_asks_for_it(database, settings, dispatcher, domain):
    tracker = make_tracker(intent="opt_in", slots={"opted_out": True})
    events = await ActionOptIn(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_intro", "utter_ask_consent"]
    assert slots(events) == {"opted_out": False, "stage": "consent"}


async def test_yes_stores_what_a_newcomer_said_before_and_does_not_ask_again(
    database, settings, dispatcher, domain
):
    held = [
        {"text": "the potholes on otley rd are a joke", "theme": ["roads_transport", 0.93],
         "themes": [["roads_transport", 0.93]], "ranking": ["roads_transport"], "inbox_id": None}
    ]  # fmt: skip
    tracker = make_tracker(
        intent="affirm", text="y", slots={"stage": "consent", "held_views": held}
    )
    events = await ActionRecordConsent(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_view_noted"]  # not "What's one thing...?"
    assert slots(events)["consent"] == "given"
    assert slots(events)["stage"] == "more"
    assert slots(events)["held_views"] is None
    with database.transaction() as s:
        [view] = s.scalars(select(View)).all()
        assert (view.text, view.theme_key) == (
            "the potholes on otley rd are a joke",
            "roads_transport",
        )
        assert slots(events)["pending_view_id"] == view.id


async def test_no_forgets_what_a_newcomer_said_before(database, settings, dispatcher, domain):
    held = [{"text": "the bins", "theme": ["waste_recycling", 0.9], "themes": [], "ranking": []}]
    tracker = make_tracker(intent="deny", text="no", slots={"stage": "consent", "held_views": held})
    events = await ActionRecordConsent(database, settings).run(dispatcher, tracker, domain)
    assert slots(events)["held_views"] is None
    with database.transaction() as s:
        assert s.scalars(select(View)).all() == []
