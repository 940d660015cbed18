"""Carrier keywords and postcode districts."""

from __future__ import annotations

import pytest

from bot.keywords import keyword_intent
from bot.postcodes import outward_code, redact_full_postcodes


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("STOP", "opt_out"), ("stop", "opt_out"), ("  Stop. ", "opt_out"), ("StopAll", "opt_out"),
        ("unsubscribe", "opt_out"), ("CANCEL", "opt_out"), ("end", "opt_out"), ("quit!", "opt_out"),
        ("revoke", "opt_out"), ("OPTOUT", "opt_out"), ("start", "opt_in"), ("UNSTOP", "opt_in"),
        ("help", "help"), ("Info", "help"), ("yes", None), ("stop the buses", None),
        ("the buses stop at 6", None), ("", None),
    ],
)  # fmt: skip
def test_keywords_are_whole_messages_in_any_case(text, intent):
    assert keyword_intent(text) == intent


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("LS6", "LS6"), ("ls6 3ab", "LS6"), ("ls63ab", "LS6"), ("my postcode is M14 5TQ", "M14"),
        ("SW1A 1AA", "SW1A"), ("i live in BD7 1DP mate", "BD7"), ("N1", "N1"),
        ("hello", None), ("gr8 thanks", None), ("the A61 road", None), ("QQ99", None), ("42", None),
    ],
)  # fmt: skip
def test_outward_code(text, district):
    assert outward_code(text) == district


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("my postcode is LS6 3AB", "my postcode is LS6"),
        ("ls63ab", "ls6"),
        ("LS6 only", "LS6 only"),
        ("call me b4 6pm", "call me b4 6pm"),  # 6PM is not an inward code (no M)
        ("bus 42 at 9am", "bus 42 at 9am"),
    ],
)
def test_full_postcodes_are_cut_to_their_district(text, redacted):
    assert redact_full_postcodes(text) == redacted
