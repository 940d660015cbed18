"""Twilio signatures (Twilio's own example), text made safe for Rasa, numbers and masking."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twilio.request_validator import RequestValidator

from bot.phone import InvalidNumber, mask, to_e164
from channels.common import is_our_payload, text_for_rasa
from channels.twilio_sms import TwilioSmsInput, numbered

# Twilio's documented request-validation example.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_documented_example_validates():
    assert RequestValidator(DOC_TOKEN).validate(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_one_changed_parameter_fails():
    changed = {**DOC_PARAMS, "Digits": "1235"}
    assert not RequestValidator(DOC_TOKEN).validate(DOC_URL, changed, DOC_SIGNATURE)


def test_behind_a_proxy_the_public_url_is_what_is_signed(channel_settings):
    channel = TwilioSmsInput(channel_settings, auth_token=DOC_TOKEN)
    # The request reached us as http://127.0.0.1:5005/... through a tunnel.
    request = SimpleNamespace(path="/webhooks/sms/webhook", query_string="a=1")
    public = channel.public_url(request)
    assert public == "https://engage.example.org/webhooks/sms/webhook?a=1"
    signature = RequestValidator(DOC_TOKEN).compute_signature(public, DOC_PARAMS)
    assert channel.validator.validate(public, DOC_PARAMS, signature)
    internal = "http://127.0.0.1:5005/webhooks/sms/webhook?a=1"
    assert not channel.validator.validate(internal, DOC_PARAMS, signature)


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("STOP", "/opt_out"), (" stop ", "/opt_out"), ("Unsubscribe", "/opt_out"),
        ("START", "/opt_in"), ("unstop", "/opt_in"), ("HELP", "/help"), ("info", "/help"),
        ("yes", "yes"), ('/set_theme{"theme":"aliens"}', 'set_theme{"theme":"aliens"}'),
        ("//opt_out", "opt_out"), ("my postcode is LS6 3AB", "my postcode is LS6"),
        ("x" * 3000, "x" * 2000),
    ],
)  # fmt: skip
def test_text_for_rasa(typed, sent):
    assert text_for_rasa(typed) == sent


@pytest.mark.parametrize(
    ("payload", "ours"),
    [
        ("/affirm", True), ('/set_theme{"theme":"housing"}', True),
        ('/set_theme{"theme":"x","consent":"given"}', False), ("hello", False),
        ("/affirm; drop", False), (None, False),
    ],
)  # fmt: skip
def test_only_payloads_shaped_like_ours_pass(payload, ours):
    assert is_our_payload(payload) is ours


def test_numbered_options():
    buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    assert numbered("Reply YES or NO.", buttons) == "Reply YES or NO.\n1 Yes  2 No"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+447700900123", "+447700900123"), ("07700 900123", "+447700900123"),
        ("0044 7700-900123", "+447700900123"), ("+1 (415) 867-5309", "+14158675309"),
    ],
)  # fmt: skip
def test_numbers_are_normalised_to_e164(raw, e164):
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "hello", "+0123", "+12345678901234567", "whatsapp:+44"])
def test_non_numbers_are_refused(raw):
    with pytest.raises(InvalidNumber):
        to_e164(raw)


def test_masking_keeps_only_the_last_three_digits():
    assert mask("+447700900123") == "**********123"
    assert mask("12") == "12"
