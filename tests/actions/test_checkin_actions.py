"""Check-in and preference actions, with an in-code tracker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from actions.checkins import ActionAnswerCheckin, ActionRateCheckin, ActionStartCheckin
from actions.preferences import ActionSetRhythm, pause_length
from bot.models import Checkin, Resident, View
from bot.services.checkins import QuestionDraft, add_question, default_question
from bot.services.residents import find_resident
from tests.actions.conftest import SENDER, make_tracker, responses, slots

GIVEN = {"consent": "given"}


def _checkin(database, kind="open", ask_why=False, sender=SENDER) -> int:
    with database.transaction() as s:
        resident = find_resident(s, sender)
        question = (
            default_question(s)
            if kind == "open"
            else add_question(
                s,
                QuestionDraft(
                    wording="Safe after dark? Reply 1 to 5.",
                    kind="scale",
                    ask_why=ask_why,
                    starts_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                ),
            )
        )
        checkin = Checkin(resident_id=resident.id, period="2026-01-31", kind="checkin",
                          question_id=question.id, channel="sms", status="sent")  # fmt: skip
        s.add(checkin)
        s.flush()
        return checkin.id


async def test_start_an_open_checkin(database, settings, dispatcher, domain, consented):
    checkin_id = _checkin(database)
    tracker = make_tracker(
        intent="start_checkin",
        entities=[{"entity": "checkin_id", "value": str(checkin_id)}],
        slots=GIVEN,
    )
    events = await ActionStartCheckin(database, settings).run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_checkin_question"
    assert message["question"] == "What's one thing about your area you'd change?"
    assert slots(events) == {"checkin_id": checkin_id, "stage": "checkin_open"}


async def test_start_a_scale_checkin_offers_one_to_five(
    database, settings, dispatcher, domain, consented
):
    checkin_id = _checkin(database, kind="scale")
    tracker = make_tracker(
        intent="start_checkin", entities=[{"entity": "checkin_id", "value": str(checkin_id)}]
    )
    events = await ActionStartCheckin(database, settings).run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads == [f'/rate{{"rating":"{n}"}}' for n in range(1, 6)]
    assert slots(events)["stage"] == "checkin_scale"


@pytest.mark.parametrize("checkin_id", ["999", "x", None])
async def test_a_checkin_that_is_not_theirs_starts_nothing(
    database, settings, dispatcher, domain, consented, checkin_id
):
    with database.transaction() as s:
        s.add(Resident(conversation_id="someone-else", consent="given"))
    other = _checkin(database, sender="someone-else")
    value = str(other) if checkin_id == "x" else checkin_id
    entities = [{"entity": "checkin_id", "value": value}] if value else []
    tracker = make_tracker(intent="start_checkin", entities=entities)
    assert await ActionStartCheckin(database, settings).run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []


async def test_an_open_answer_is_stored_against_the_question(
    database, settings, dispatcher, domain, consented
):
    checkin_id = _checkin(database)
    tracker = make_tracker(
        text="the bins overflow", theme=("waste_recycling", 0.93),
        slots={**GIVEN, "stage": "checkin_open", "checkin_id": checkin_id},
    )  # fmt: skip
    events = await ActionAnswerCheckin(database, settings).run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["theme_label"] == "Rubbish & recycling"
    assert slots(events) == {"stage": None, "checkin_id": None}
    with database.transaction() as s:
        view = s.scalars(select(View)).one()
        checkin = s.get(Checkin, checkin_id)
        assert (view.question_id, view.theme_key) == (checkin.question_id, "waste_recycling")


@pytest.mark.parametrize(
    ("ask_why", "expected"), [(True, "utter_checkin_why"), (False, "utter_checkin_thanks")]
)
async def test_a_rating_is_stored_and_why_asked_if_wanted(
    database, settings, dispatcher, domain, consented, ask_why, expected
):
    checkin_id = _checkin(database, kind="scale", ask_why=ask_why)
    tracker = make_tracker(
        intent="rate", entities=[{"entity": "rating", "value": "2"}],
        slots={**GIVEN, "stage": "checkin_scale", "checkin_id": checkin_id},
    )  # fmt: skip
    events = await ActionRateCheckin(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == [expected]
    assert slots(events)["stage"] == ("checkin_why" if ask_why else None)
    with database.transaction() as s:
        assert s.scalars(select(View.rating)).one() == 2


@pytest.mark.parametrize("rating", ["0", "6", "five", ""])
async def test_a_bad_rating_is_asked_again(
    database, settings, dispatcher, domain, consented, rating
):
    checkin_id = _checkin(database, kind="scale")
    tracker = make_tracker(
        intent="rate", entities=[{"entity": "rating", "value": rating}],
        slots={**GIVEN, "stage": "checkin_scale", "checkin_id": checkin_id},
    )  # fmt: skip
    await ActionRateCheckin(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_checkin_rate_reask"]
    with database.transaction() as s:
        assert s.scalars(select(View)).all() == []


@pytest.mark.parametrize(
    ("intent", "text", "response", "rhythm"),
    [
        ("rhythm_fortnightly", "every two weeks", "utter_rhythm_fortnightly", "fortnightly"),
        ("rhythm_monthly", "once a month", "utter_rhythm_monthly", "monthly"),
        ("rhythm_updates_only", "only updates", "utter_rhythm_updates_only", "updates_only"),
        ("rhythm_less_often", "less often", "utter_rhythm_updates_only", "updates_only"),
    ],
)
async def test_rhythm_changes_are_confirmed(
    database, settings, dispatcher, domain, consented, intent, text, response, rhythm
):
    tracker = make_tracker(intent=intent, text=text, slots=GIVEN)
    await ActionSetRhythm(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == [response]
    with database.transaction() as s:
        assert find_resident(s, SENDER).rhythm == rhythm


async def test_pause_then_resume(database, settings, dispatcher, domain, consented):
    tracker = make_tracker(intent="pause_checkins", text="pause for 6 weeks", slots=GIVEN)
    await ActionSetRhythm(database, settings).run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_paused"
    with database.transaction() as s:
        until = find_resident(s, SENDER).paused_until
    expected = datetime.now(timezone.utc) + timedelta(weeks=6)
    assert abs((until - expected).total_seconds()) < 60
    assert message["until"] == f"{until.day} {until:%b %Y}"
    resumed = type(dispatcher)()
    tracker = make_tracker(intent="resume_checkins", text="resume", slots=GIVEN)
    await ActionSetRhythm(database, settings).run(resumed, tracker, domain)
    assert responses(resumed) == ["utter_resumed"]


def test_pause_lengths():
    assert pause_length("pause for 3 months") == timedelta(days=90)
    assert pause_length("a couple of weeks please") == timedelta(weeks=2)
    assert pause_length("pause") == timedelta(days=91)
    assert pause_length("pause for 40 months") == timedelta(days=366)
