"""What the channels share: button payload shapes, input limits, quiet provider loggers; and
the text a typed message becomes for Rasa (`bot.services.inbound.text_for_rasa`)."""

from __future__ import annotations

import logging

import pytest
import yaml

from actions.checkins import scale_buttons
from actions.dialogue import theme_buttons
from bot.services.inbound import text_for_rasa
from bot.settings import PROJECT_ROOT
from bot.themes import theme_keys
from channels.common import MAX_BODY_BYTES, BadInput, is_our_payload


@pytest.mark.parametrize(
    ("payload", "ours"),
    [
        ("/affirm", True),
        ('/set_theme{"theme":"housing"}', True),
        ('/set_theme{"theme":"roads_transport"}', True),
        ('/rate{"rating":"4"}', True),  # a check-in's 1-5 scale
        ('/rate{"Rating":"4"}', False),
        ("/" + "a" * 32, True),
        ("/" + "a" * 33, False),  # longer than any intent of ours
        ('/set_theme{"theme":"x","consent":"given"}', False),  # one entity at most
        ('/set_theme{"theme": "housing"}', False),  # not as our domain writes it
        ("/Affirm", False),
        ("affirm", False),
        ("hello", False),
        ("/affirm; drop", False),
        ("/affirm\n", False),
        ("", False),
        (None, False),
    ],
)
def test_only_payloads_shaped_like_ours_pass(payload, ours):
    assert is_our_payload(payload) is ours


def domain_payloads() -> list[str]:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    return [
        button["payload"]
        for variants in domain["responses"].values()
        for variant in variants
        for button in variant.get("buttons") or []
    ]


def test_every_button_we_offer_is_taken_when_pressed():
    offered = domain_payloads() + [
        b["payload"] for b in scale_buttons() + theme_buttons(list(theme_keys()))
    ]
    assert len(offered) > 10
    assert [p for p in offered if not is_our_payload(p)] == []


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("STOP", "/opt_out"),
        (" stop ", "/opt_out"),
        ("Stop.", "/opt_out"),
        ("Unsubscribe", "/opt_out"),
        ("START", "/opt_in"),
        ("unstop", "/opt_in"),
        ("HELP", "/help"),
        ("info", "/help"),
        ("please stop", "please stop"),  # a keyword only as the whole message
        ("yes", "yes"),
        ('/set_theme{"theme":"aliens"}', 'set_theme{"theme":"aliens"}'),  # no intent injection
        ("/opt_out", "opt_out"),
        ("//opt_out", "opt_out"),
        ("/ hello", "hello"),
        ("/ /restart", "restart"),  # Rasa strips before it looks for "/"
        ("/\t/ /opt_in", "opt_in"),
        ("\u00a0/restart", "restart"),
        ("no\x00nul", "nonul"),  # no database column takes NUL
        ("my postcode is LS6 3AB", "my postcode is LS6"),
        ("x" * 3000, "x" * 2000),
        ("   ", ""),
    ],
)
def test_text_for_rasa(typed, sent):
    assert text_for_rasa(typed) == sent


def test_bad_input_is_a_value_error_carrying_its_reason():
    assert issubclass(BadInput, ValueError)
    assert str(BadInput("The body must be JSON.")) == "The body must be JSON."


def test_bodies_are_limited_to_64_kib():
    assert MAX_BODY_BYTES == 64 * 1024


@pytest.mark.parametrize("name", ["twilio.http_client", "twilio.async_http_client", "httpx"])
def test_loggers_that_print_numbers_or_tokens_stay_at_warning(name):
    # They log whole requests (phone numbers, message bodies, the bot token in the URL).
    assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
