"""End to end: the real Rasa and action servers, through the REST channel, into the database."""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import create_engine, select, text

from bot.models import ConsentEvent, ConsentWording, Resident, View
from bot.services.identities import resident_at
from tests.e2e.conftest import REST_AUTH

pytestmark = pytest.mark.e2e

# A view with no clear theme: the classifier is unsure, so the resident is asked.
VAGUE = "the council needs to listen to people more"


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def consented(stack, sender: str) -> None:
    assert "Leeds Listens" in stack.texts(sender, "hi saw the poster")[0]
    assert "one thing" in stack.texts(sender, "yes ok")[0]


def resident_of(session, sender: str) -> Resident:
    """The resident behind a REST sender (Rasa knows them by an opaque conversation id)."""
    resident = resident_at(session, "rest", sender)
    assert resident is not None
    return resident


def views_of(stack, sender: str) -> list[View]:
    with stack.database.transaction() as s:
        resident = resident_of(s, sender)
        return list(
            s.scalars(select(View).where(View.resident_id == resident.id).order_by(View.id))
        )


def test_first_contact_consent_view_area(stack):
    sender = new_sender()
    first = stack.say(sender, "hi saw the poster")
    assert "Leeds Listens" in first[0]["text"] and "https://leeds.example/p" in first[0]["text"]
    assert "YES or NO" in first[1]["text"]
    assert [b["payload"] for b in first[1]["buttons"]] == ["/affirm", "/deny"]

    assert stack.texts(sender, "yes ok") == [
        "Thanks! What's one thing about your area or local services you'd change?"
    ]
    reply = stack.texts(sender, "the buses stop at 6 so i cant get home from my shift")
    assert reply == ["Thanks, noted under Roads & transport. Anything else? (Or reply DONE)"]
    assert "postcode" in stack.texts(sender, "done")[0]
    assert stack.texts(sender, "its LS6 3AB") == [
        "Thanks, noted LS6. We'll let you know if something changes because of what you said."
    ]

    [view] = views_of(stack, sender)
    assert view.theme_key == "roads_transport" and 0.5 <= view.confidence <= 1
    assert (view.area, view.channel, view.theme_source) == ("LS6", "rest", "model")
    with stack.database.transaction() as s:
        event = s.scalars(
            select(ConsentEvent).where(ConsentEvent.resident_id == resident_of(s, sender).id)
        ).one()
        assert (event.kind, event.store_views, event.contact) == ("given", True, True)
        wording = s.get(ConsentWording, event.wording_version).text
        assert "Leeds Listens" in wording and "YES or NO" in wording


def test_full_postcodes_never_reach_the_tracker_store(stack):
    sender = new_sender()
    consented(stack, sender)
    stack.say(sender, "the bins in my street are never emptied on time")
    stack.say(sender, "done")
    stack.say(sender, "my postcode is LS6 3AB")
    with stack.database.transaction() as s:
        conversation = resident_of(s, sender).conversation_id
    tracker_url = stack.database.url.replace("engage.db", "tracker.db")
    engine = create_engine(tracker_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(
            text("select data from events where sender_id = :s"), {"s": conversation}
        ).scalars()
        data = " ".join(rows)
    engine.dispose()
    assert "LS6" in data and "3AB" not in data


def test_no_consent_means_nothing_is_stored(stack):
    sender = new_sender()
    stack.say(sender, "hello")
    assert "won't keep anything" in stack.texts(sender, "no")[0]
    reply = stack.texts(sender, "the park is full of litter and broken glass")
    assert "Reply YES" in reply[0]
    with stack.database.transaction() as s:
        resident = resident_of(s, sender)
        assert resident.consent == "refused"
        assert s.scalars(select(View).where(View.resident_id == resident.id)).all() == []
    # Changing their mind works.
    assert "one thing" in stack.texts(sender, "yes")[0]


def test_unsure_theme_offers_three_themes_and_something_else(stack):
    sender = new_sender()
    consented(stack, sender)
    reply = stack.say(sender, VAGUE)
    assert reply[0]["text"] == "Thanks. Which is it closest to?"
    buttons = reply[0]["buttons"]
    assert len(buttons) == 4 and buttons[-1]["title"] == "Something else"
    chosen = buttons[1]
    assert stack.texts(sender, "2")[0].startswith(f"Got it, noted under {chosen['title']}.")
    [view] = views_of(stack, sender)
    assert view.theme_source == "resident"
    assert view.theme_key in chosen["payload"]


def test_something_else_and_a_forged_theme(stack):
    sender = new_sender()
    consented(stack, sender)
    stack.say(sender, VAGUE)
    # A typed payload is only text: it cannot set a theme, in the catalogue or not.
    stack.say(sender, '/set_theme{"theme":"aliens"}')
    with stack.database.transaction() as s:
        themes = s.scalars(
            select(View.theme_key).where(View.resident_id == resident_of(s, sender).id)
        )
        assert "aliens" not in themes.all()
    asked = stack.say(sender, VAGUE)  # a fresh question: option 4 is "Something else"
    assert asked[0]["buttons"][3]["title"] == "Something else"
    assert stack.texts(sender, "4")[0].startswith("Got it, noted.")
    assert views_of(stack, sender)[-1].theme_key is None


def test_resident_corrects_the_theme(stack):
    sender = new_sender()
    consented(stack, sender)
    assert "Roads & transport" in stack.texts(sender, "the potholes on my road are awful")[0]
    assert stack.texts(sender, "no its about the council not fixing my flat")[0].startswith(
        "Sorry, moved to Housing."
    )
    [view] = views_of(stack, sender)
    assert (view.theme_key, view.theme_source) == ("housing", "resident")


def test_another_view_then_what_have_i_told_you(stack):
    sender = new_sender()
    consented(stack, sender)
    stack.say(sender, "the buses stop at 6 so i cant get home from my shift")
    assert stack.texts(sender, "yes") == ["Go on, what else would you change?"]
    assert "Housing" in stack.texts(sender, "my flat has had damp and mould for a year")[0]
    stack.say(sender, "no thats all")
    stack.say(sender, "skip")
    summary = stack.texts(sender, "what have i told you?")[0]
    assert summary.startswith("You've told us 2 things:")
    assert "Roads & transport (1)" in summary and "Housing (1)" in summary


@pytest.mark.parametrize("stop_word", ["STOP", "stop", " Unsubscribe ", "QUIT", "optout."])
def test_stop_in_any_state_then_silence_then_start(stack, stop_word):
    sender = new_sender()
    consented(stack, sender)
    stack.say(sender, VAGUE)  # in the middle of choosing a theme
    assert stack.texts(sender, stop_word) == [
        "You won't get any more messages from Leeds Listens. Text START if you change your mind."
    ]
    assert stack.say(sender, "hello?") == []
    assert stack.say(sender, "the bins are never emptied") == []
    assert stack.say(sender, "STOP") == []  # one confirmation only
    assert "Reply STOP" in stack.texts(sender, "HELP")[0]
    assert stack.texts(sender, "START") == [
        "Welcome back. We'll message you about once a month. Reply STOP at any time."
    ]
    with stack.database.transaction() as s:
        kinds = s.scalars(
            select(ConsentEvent.kind)
            .where(ConsentEvent.resident_id == resident_of(s, sender).id)
            .order_by(ConsentEvent.id)
        ).all()
    assert kinds == ["given", "opted_out", "opted_in"]
    assert len(views_of(stack, sender)) == 1  # the view before STOP, nothing after


def test_yes_after_stop_resubscribes(stack):
    sender = new_sender()
    consented(stack, sender)
    stack.say(sender, "stop")
    assert stack.texts(sender, "yes")[0].startswith("Welcome back.")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("who is this?", "This is Leeds Listens"),
        ("whats the weather like tomorrow", "Sorry, I can't help with that here"),
        ("xq zzkj wpt", "Sorry, I didn't catch that."),
        ("thanks", "You're welcome."),
    ],
)
def test_small_talk_is_answered_and_leads_back(stack, message, expected):
    sender = new_sender()
    consented(stack, sender)
    replies = stack.texts(sender, message)
    assert replies[0].startswith(expected)
    if expected != "You're welcome.":
        assert replies[-1] == "What's one thing about your area or local services you'd change?"


def test_help_before_consent_explains_then_asks(stack):
    sender = new_sender()
    replies = stack.texts(sender, "help")
    assert replies[0].startswith("Hi, this is Leeds Listens")  # what this is, once
    assert "YES or NO" in replies[-1] and "Reply STOP" in replies[-1]


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"sender": "x"}', b'{"sender": "", "message": "hi"}',
     b'{"sender": "x", "message": "' + b"a" * 3000 + b'"}'],
)  # fmt: skip
def test_bad_requests_get_a_short_error_and_store_nothing(stack, body):
    reply = requests.post(
        stack.webhook,
        data=body,
        headers={"content-type": "application/json", **REST_AUTH},
        timeout=30,
    )
    assert reply.status_code == 400
    assert "Traceback" not in reply.text and len(reply.text) < 300
    with stack.database.transaction() as s:
        assert resident_at(s, "rest", "x") is None
