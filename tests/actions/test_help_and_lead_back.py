"""Help that knows the resident, and a lead-back that never repeats or runs past two SMS."""

from __future__ import annotations

from datetime import timedelta

import pytest

from actions.help import ActionHelp
from actions.lead_back import ActionLeadBack
from bot.models import utcnow
from bot.services.preferences import pause, set_rhythm
from bot.services.residents import find_resident
from tests.actions.conftest import SENDER, make_tracker, responses, slots

GIVEN = {"consent": "given", "org_name": "Leeds Listens", "privacy_url": "https://leeds.example/p"}


def _said(tracker, *names: str, text: str = "x" * 40):
    """The tracker after the bot already sent `names` in reply to the latest message."""
    tracker.events.extend(
        {"event": "bot", "text": text, "metadata": {"utter_action": name}} for name in names
    )
    return tracker


@pytest.mark.parametrize(
    ("rhythm", "help_response", "rhythm_response"),
    [
        ("monthly", "utter_help_monthly", "utter_rhythm_now_monthly"),
        ("fortnightly", "utter_help_fortnightly", "utter_rhythm_now_fortnightly"),
        ("updates_only", "utter_help_updates_only", "utter_rhythm_now_updates_only"),
    ],
)
async def test_help_and_how_often_answer_with_the_residents_own_rhythm(
    database, settings, dispatcher, domain, consented, rhythm, help_response, rhythm_response
):
    with database.transaction() as s:
        set_rhythm(s, find_resident(s, SENDER), rhythm)
    await ActionHelp(database, settings).run(
        dispatcher, make_tracker(intent="help", text="help", slots=GIVEN), domain
    )
    await ActionHelp(database, settings).run(
        dispatcher,
        make_tracker(intent="ask_rhythm", text="how often will u text me?", slots=GIVEN),
        domain,
    )
    assert responses(dispatcher) == [help_response, rhythm_response]


async def test_a_paused_resident_hears_until_when(
    database, settings, dispatcher, domain, consented
):
    with database.transaction() as s:
        pause(s, find_resident(s, SENDER), utcnow() + timedelta(days=30))
    tracker = make_tracker(intent="ask_rhythm", text="how often do you text", slots=GIVEN)
    await ActionHelp(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_rhythm_now_paused"]
    assert dispatcher.messages[0]["until"]


async def test_help_for_a_newcomer_is_the_introduction_and_the_question(
    database, settings, dispatcher, domain
):
    events = await ActionHelp(database, settings).run(
        dispatcher, make_tracker(intent="help", text="help"), domain
    )
    assert responses(dispatcher) == ["utter_intro", "utter_ask_consent"]
    assert slots(events) == {"stage": "consent"}


async def test_a_newcomer_who_asked_who_we_are_is_only_asked_for_consent(
    database, settings, dispatcher, domain
):
    tracker = _said(make_tracker(intent="who_are_you", text="hiya who is this"), "utter_who_we_are")
    events = await ActionLeadBack(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_consent"]  # not the introduction again
    assert slots(events) == {"stage": "consent"}


async def test_the_consent_question_is_never_asked_twice_in_a_turn(
    database, settings, dispatcher, domain
):
    tracker = _said(make_tracker(intent="help", text="help"), "utter_intro", "utter_ask_consent")
    assert await ActionLeadBack(database, settings).run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []


async def test_a_lead_back_that_would_make_a_third_sms_is_left_out(
    database, settings, dispatcher, domain, consented
):
    long_answer = "word " * 60  # two SMS already
    tracker = _said(
        make_tracker(intent="help", text="help", slots={**GIVEN, "stage": "more"}),
        "utter_help_monthly",
        text=long_answer,
    )
    assert await ActionLeadBack(database, settings).run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []


async def test_a_short_answer_is_followed_by_the_lead_back(
    database, settings, dispatcher, domain, consented
):
    tracker = _said(
        make_tracker(intent="greet", text="hi", slots={**GIVEN, "stage": "more"}), "utter_greet"
    )
    await ActionLeadBack(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_more"]
