"""End to end, over the REST channel against the real stack: what a first trial found
residents misunderstood (corrections, words kept, no repetition, help, real choices)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from bot.models import View
from bot.services.identities import resident_at
from bot.sms import sms_count
from bot.tracker_store import events_of, tracker_database

pytestmark = pytest.mark.e2e


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def views_of(stack, sender: str) -> list[tuple[str, str | None]]:
    with stack.database.transaction() as s:
        resident = resident_at(s, "rest", sender)
        rows = s.scalars(select(View).where(View.resident_id == resident.id).order_by(View.id))
        return [(v.text, v.theme_key) for v in rows]


def sms_of(replies: list[dict]) -> int:
    """How many SMS these replies would be on a phone (buttons as numbered options)."""
    return sum(sms_count(r.get("text") or "", r.get("buttons") or []) for r in replies)


def sentences(replies: list[dict]) -> list[str]:
    return [s.strip() for r in replies for s in (r.get("text") or "").split(". ") if s.strip()]


def test_a_correction_picks_the_theme_meant_and_keeps_its_words(stack):
    sender = new_sender()
    stack.say(sender, "hi")
    stack.say(sender, "yes")
    stack.say(sender, "half the street lights r out on my road")
    reply = stack.texts(sender, "its not safety its a roads thing, they intimidate ppl")
    assert "Community safety" not in " ".join(reply)
    [(text, theme)] = views_of(stack, sender)
    assert theme == "roads_transport"
    assert text.endswith("they intimidate ppl")


def test_words_before_consent_are_kept_and_not_asked_for_again(stack):
    sender = new_sender()
    first = stack.texts(sender, "the potholes on otley rd are a joke")
    assert "YES or NO" in first[-1]
    reply = stack.texts(sender, "y")
    assert reply == ["Thanks, noted under Roads & transport. Anything else? (Or reply DONE)"]
    assert views_of(stack, sender) == [("the potholes on otley rd are a joke", "roads_transport")]


def test_a_refusal_forgets_the_words_held(stack):
    sender = new_sender()
    stack.say(sender, "the potholes on otley rd are a joke")
    stack.say(sender, "no")
    with stack.database.transaction() as s:
        resident = resident_at(s, "rest", sender)
        assert s.scalars(select(View).where(View.resident_id == resident.id)).all() == []


def test_an_area_answer_that_is_not_a_district_is_never_a_view(stack):
    sender = new_sender()
    for text in ("hi", "yes", "the buses stop at 6 so i cant get home from my shift"):
        stack.say(sender, text)
    assert "postcode" in stack.texts(sender, "done")[0]
    reply = stack.texts(sender, "dunno, near the park")
    assert "postcode" in reply[0]  # a gentle re-ask
    assert len(views_of(stack, sender)) == 1


def test_something_else_then_a_theme_re_themes_the_same_view(stack):
    sender = new_sender()
    stack.say(sender, "hi")
    stack.say(sender, "yes")
    asked = stack.say(sender, "the council needs to listen to people more")
    assert asked[-1]["buttons"], "a vague view offers themes"
    stack.say(sender, '/set_theme{"theme":"other"}')
    stack.say(sender, "actually its more community facilities, like a day centre")
    [(text, theme)] = views_of(stack, sender)
    assert theme == "community_facilities"
    assert text.endswith("like a day centre")


@pytest.mark.parametrize(
    "message", ["hiya who is this", "wot do u do with my info", "help", "is there a prize"]
)
def test_a_newcomer_gets_at_most_two_sms_and_no_sentence_twice(stack, message):
    replies = stack.say(new_sender(), message)
    assert sms_of(replies) <= 2, replies
    said = sentences(replies)
    assert len(said) == len(set(said)), replies
    assert "YES or NO" in replies[-1]["text"]


@pytest.mark.parametrize(
    "message", ["help", "how often will u text me?", "wot do u do with my info"]
)
def test_a_resident_gets_at_most_two_sms_and_no_sentence_twice(stack, message):
    sender = new_sender()
    stack.say(sender, "hi")
    stack.say(sender, "yes")
    stack.say(sender, "the bins are never collected on time")
    replies = stack.say(sender, message)
    assert sms_of(replies) <= 2, replies
    said = sentences(replies)
    assert len(said) == len(set(said)), replies


def test_help_knows_the_residents_rhythm_and_how_to_change_it(stack):
    sender = new_sender()
    stack.say(sender, "hi")
    stack.say(sender, "yes")
    assert "about once a month" in stack.texts(sender, "how often will u text me?")[0]
    stack.say(sender, "fortnightly please")
    reply = stack.texts(sender, "how do i change how often u text me")[0]
    assert "every two weeks" in reply and "MONTHLY" in reply
    assert "what do you know about me" in stack.texts(sender, "help")[0]


def test_unsure_choices_are_the_classifiers_real_top_three(stack):
    sender = new_sender()
    stack.say(sender, "hi")
    stack.say(sender, "yes")
    asked = stack.say(sender, "the council needs to listen to people more")
    offered = [b["payload"] for b in asked[-1]["buttons"]][:-1]  # then "Something else"
    with stack.database.transaction() as s:
        conversation = resident_at(s, "rest", sender).conversation_id
    tracker = tracker_database(stack.tracker_url, stack.database)
    with tracker.engine.connect() as connection:
        user = [e for e in events_of(connection, conversation) if e.type == "user"][-1]
    ranking = [item["name"] for item in user.data["parse_data"]["theme_ranking"]][:3]
    assert offered == [f'/set_theme{{"theme":"{key}"}}' for key in ranking]
