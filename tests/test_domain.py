"""Every bot message fits two GSM-7 SMS segments, with the longest values it can be filled with."""

from __future__ import annotations

import re
import string

import pytest
import yaml

from actions.my_data import MAX_THEMES_LISTED
from actions.rights import SNIPPET_CHARS
from bot.services.checkins import MAX_QUESTION_CHARS
from bot.settings import (
    MAX_CONTACT,
    MAX_ORG_NAME,
    MAX_PHONE,
    MAX_PRIVACY_URL,
    MAX_SIGNPOST,
    PROJECT_ROOT,
)
from bot.sms import MAX_SEGMENTS, gsm7_length, is_gsm7, segments, sms_count
from bot.themes import catalogue

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
LONGEST_LABEL = max((t.label for t in catalogue()), key=len)
LONGEST_LABELS = sorted((t.label for t in catalogue()), key=len, reverse=True)

# The longest value each placeholder can take.
WORST_CASE = {
    "org_name": "W" * MAX_ORG_NAME,
    "privacy_url": "https://" + "w" * (MAX_PRIVACY_URL - len("https://")),
    "theme_label": LONGEST_LABEL,
    "second_label": LONGEST_LABEL,
    "when": "30 Sep 2026",
    "area": "SW1A",
    "count": "999",
    "more": "9",
    "joined": "30 Sep 2026",
    "rhythm": "updates only",
    "snippet": "s" * SNIPPET_CHARS,
    "data_request_contact": "c" * MAX_CONTACT,
    "question": "Q" * MAX_QUESTION_CHARS,
    "until": "30 Sep 2026",
    "breakdown": ", ".join(f"{label} (999)" for label in LONGEST_LABELS[:MAX_THEMES_LISTED]),
    "emergency_number": "9" * MAX_PHONE,
    "samaritans_number": "1" * MAX_PHONE,
    "nhs_mental_health": "N" * MAX_SIGNPOST,
    "police_non_emergency": "1" * MAX_PHONE,
    "police_report_url": "p" * MAX_SIGNPOST,
    "abuse_helpline": "0" * MAX_PHONE,
    "safeguarding_contact": "C" * MAX_CONTACT,
    "report_url": "r" * MAX_SIGNPOST,
}


# Filled with officers' text, whose length is checked when it is written.
# utter_news_item carries an update's "we did", which is shorter than utter_update by its
# own wording: fits whenever utter_update does.
# Checked by bot.services.updates.draft_update when an officer writes them.
CHECKED_WHEN_WRITTEN = {"utter_update", "utter_update_coming", "utter_news_item"}


def all_texts():
    for name, variants in DOMAIN["responses"].items():
        if name in CHECKED_WHEN_WRITTEN:
            continue
        for variant in variants:
            yield name, variant["text"]


@pytest.mark.parametrize(("name", "template"), list(all_texts()))
def test_every_response_fits_two_sms_and_is_gsm7(name, template):
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    assert fields <= WORST_CASE.keys(), (
        f"{name} uses unknown placeholders {fields - WORST_CASE.keys()}"
    )
    text = template.format(**WORST_CASE)
    assert is_gsm7(text), (
        f"{name} has characters outside GSM-7: {set(text) - set(string.printable)}"
    )
    encoding, count = segments(text)
    assert (encoding, count <= MAX_SEGMENTS) == ("GSM-7", True), (
        f"{name}: {gsm7_length(text)} chars"
    )
    assert gsm7_length(text) <= 306


def test_button_titles_are_short_and_gsm7():
    for name, variants in DOMAIN["responses"].items():
        for variant in variants:
            for button in variant.get("buttons", []):
                assert is_gsm7(button["title"]) and len(button["title"]) <= 24, name
                assert re.fullmatch(r"/[a-z_]+(\{.*\})?", button["payload"]), name


def test_theme_labels_are_short_and_gsm7():
    for theme in catalogue():
        assert is_gsm7(theme.label) and len(theme.label) <= 24


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # extension characters take two septets each
        ("€" * 81, ("GSM-7", 2)),
        ("ü" * 160, ("GSM-7", 1)),
        ("ł" * 70, ("UCS-2", 1)),
        ("ł" * 71, ("UCS-2", 2)),
        ("ł" * 134, ("UCS-2", 2)),
        ("ł" * 135, ("UCS-2", 3)),
        ("\u2019" + "a" * 69, ("UCS-2", 1)),  # one curly quote turns the whole SMS into UCS-2
        ("😀" * 35, ("UCS-2", 1)),  # beyond the BMP: two code units each
        ("😀" * 36, ("UCS-2", 2)),
    ],
)
def test_segment_counting_at_the_edges(text, expected):
    assert segments(text) == expected


# What a newcomer can be told before the consent question: each one SMS, so that with the
# question (one SMS, its options numbered) no first reply runs past two SMS.
BEFORE_CONSENT = ("utter_intro", "utter_who_we_are", "utter_about_service", "utter_rhythm_offer")


@pytest.mark.parametrize("name", BEFORE_CONSENT)
def test_what_a_newcomer_hears_before_the_question_is_one_sms(name):
    assert sms_count(DOMAIN["responses"][name][0]["text"].format(**WORST_CASE)) == 1


def test_the_consent_question_with_its_numbered_options_is_one_sms():
    [question] = DOMAIN["responses"]["utter_ask_consent"]
    assert sms_count(question["text"], question["buttons"]) == 1
