"""The safeguarding detector's decision: phrases that always count, and the two thresholds."""

from __future__ import annotations

import pytest

from bot.nlu.safeguarding import assess, lexicon_kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("i want to kill myself", "self_harm"),
        ("thinking of ending it", "self_harm"),
        ("ive been so low i've thought about ending things", "self_harm"),
        ("this will be my last message, sorry", "self_harm"),
        ("Im going to end it all tonight", "self_harm"),
        ("i feel suicidal again", "self_harm"),
        ("been self harming since march", "self_harm"),
        ("no point going on", "self_harm"),
        ("everyone would be better off without me", "self_harm"),
        ("took a load of pills", "self_harm"),
        ("ive thought about just not being here", "self_harm"),
        ("took 30 paracetamol an hour ago", "self_harm"),
        ("ive been saving up my tablets", "self_harm"),
        ("got enough tablets saved up", "self_harm"),
        ("been stockpiling meds for weeks", "self_harm"),
        ("my neighbour collapsed and hes not breathing", "danger_now"),
        ("it smells of gas on the whole landing", "danger_now"),
        ("the flat below is on fire", "danger_now"),
        ("kitchen is full of smoke", "danger_now"),
    ],
)
def test_unambiguous_phrases_always_count(text, kind):
    assert lexicon_kind(text) == kind
    assert assess([("none", 1.0)], text, critical=0.16, other=0.5) == (kind, 0.99)


@pytest.mark.parametrize(
    "text",
    [
        "the cycle lane ends in a bus stop, its suicidal cycling there",
        "the self harm support group for teenagers closed",
        "the fire station is closing",
        "kill the speed bumps",
        "this pothole will be the death of me",
        "the safety of the crossing is killing me",
        "i take my life in my hands crossing that road",
        "my gas bill nearly gave me a heart attack",
        "took 2 paracetamol and waited 5 hours in a&e",
        "my mum takes 12 tablets a day and the chemist keeps running out",
        "the park was on fire last summer, plant new trees",
        "delete my last message",
        "ignore my last message, i meant the 42 bus",
        "the council is thinking about ending the night bus",
    ],
)
def test_figures_of_speech_and_services_are_not_phrases_of_danger(text):
    assert lexicon_kind(text) is None


def test_danger_and_self_harm_are_flagged_from_a_lower_probability_than_the_rest():
    low_risk = [("none", 0.8), ("self_harm", 0.12), ("danger_now", 0.08)]
    assert assess(low_risk, "im just so tired of it all", critical=0.16, other=0.5) == (
        "self_harm",
        pytest.approx(0.2),
    )
    crime = [("none", 0.6), ("crime_report", 0.3), ("abuse", 0.1)]
    assert assess(crime, "someone scratched my car", critical=0.16, other=0.5) is None
    sure = [("crime_report", 0.7), ("none", 0.3)]
    assert assess(sure, "my shed was broken into last night", critical=0.16, other=0.5) == (
        "crime_report",
        pytest.approx(0.7),
    )
    assert assess([("none", 0.97), ("abuse", 0.03)], "the bins", critical=0.16, other=0.5) is None


def test_below_the_sure_threshold_danger_is_not_flagged_in_what_is_surely_a_view():
    risk = [("none", 0.8), ("danger_now", 0.2)]
    vetoing = {"critical": 0.08, "other": 0.5, "sure": 0.3, "veto": 0.9}
    text = "the junction is a death trap"
    assert assess(risk, text, view=0.95, **vetoing) is None
    assert assess(risk, text, view=0.6, **vetoing) == ("danger_now", pytest.approx(0.2))
    assert assess(risk, text, view=None, **vetoing) is not None  # no intent ranking: flag
    sure = [("none", 0.6), ("danger_now", 0.4)]
    assert assess(sure, text, view=0.99, **vetoing) == ("danger_now", pytest.approx(0.4))
    crime = [("none", 0.4), ("crime_report", 0.6)]
    assert assess(crime, "my van was nicked", view=0.99, **vetoing) is not None
    assert assess([("self_harm", 1.0)], "took 30 paracetamol", view=1.0, **vetoing) is not None


@pytest.mark.parametrize(
    "text",
    [
        "they are smashing the shop windows on the parade as we speak",
        "lads fighting outside the chippy rn",
        "someones trying car doors on our road right now",
        "ive just been mugged and theyre round the corner",
        "a man has just collapsed in the precinct",
        "break in in progress at number 4",
    ],
)
def test_danger_told_as_happening_now_counts_from_the_urgent_threshold_and_is_never_vetoed(
    text,
):
    low = [("share_view:community_safety", 0.95), ("danger_now", 0.05)]
    rules = {"critical": 0.12, "other": 0.25, "sure": 0.3, "veto": 0.9, "urgent": 0.03}
    assert assess(low, text, view=0.97, **rules) == ("danger_now", pytest.approx(0.05))
    assert assess(low, text, view=0.97, **{**rules, "urgent": 1.01}) is None  # rule off
    negligible = [("share_view:community_safety", 0.99), ("danger_now", 0.01)]
    assert assess(negligible, text, view=0.97, **rules) is None


@pytest.mark.parametrize(
    "text",
    [
        "the buses are a shambles at the moment",
        "i just think the park needs more bins",
        "the potholes have been there for months",
        "the library is closing in the spring",
        "ive sent photos 6 times and the fly-tipping is still there",
    ],
)
def test_views_told_in_the_present_are_not_urgent(text):
    from bot.nlu.safeguarding import is_urgent

    assert not is_urgent(text)
