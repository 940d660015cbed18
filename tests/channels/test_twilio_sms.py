"""Twilio SMS: signatures, the public URL, forms, incoming messages and delivery reports (one
table row per case, from the saved payloads), numbered options, SMS parts, and `SmsSender`
against the fake Twilio."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from bot.outbound import RetryLater, Undeliverable
from bot.phone import InvalidNumber, mask, to_e164
from bot.services.inbound import NON_TEXT, Incoming
from bot.settings import Settings
from channels import twilio_sms
from channels.common import BadInput
from channels.twilio_sms import (
    SmsSender,
    Status,
    form_fields,
    meaning,
    numbered,
    parse,
    parse_status,
    public_url,
    verify,
)
from tests.channels.conftest import AUTH_TOKEN, FROM_NUMBER, PUBLIC_BASE_URL, channel_env, payload
from tests.ports import free_port

NUMBER = "+447700900123"
SMS_SID = "SM7b1c9f0e5d6a4c3b2a1f0e9d8c7b6a50"
MMS_SID = "MM0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f"
STATUS_SID = "SM00000000000000000000000000000001"

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
SMS_URL = f"{PUBLIC_BASE_URL}/webhooks/sms/webhook"


def signed(url: str, fields: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, fields)


# --- verify ------------------------------------------------------------------------------

SMS_FIELDS = payload("twilio_sms.json")


@pytest.mark.parametrize(
    ("token", "url", "fields", "signature", "valid"),
    [
        pytest.param(DOC_TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE, True, id="documented-example"),
        pytest.param(
            DOC_TOKEN,
            DOC_URL,
            {**DOC_PARAMS, "Digits": "1235"},
            DOC_SIGNATURE,
            False,
            id="one-changed-parameter",
        ),
        pytest.param(
            DOC_TOKEN,
            DOC_URL,
            {**DOC_PARAMS, "Body": "x"},
            DOC_SIGNATURE,
            False,
            id="an-added-parameter",
        ),
        pytest.param(
            DOC_TOKEN,
            DOC_URL.replace("foo=1", "foo=2"),
            DOC_PARAMS,
            DOC_SIGNATURE,
            False,
            id="another-url",
        ),
        pytest.param("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE, False, id="another-token"),
        pytest.param(DOC_TOKEN, DOC_URL, DOC_PARAMS, "", False, id="no-signature"),
        pytest.param(
            AUTH_TOKEN,
            SMS_URL,
            SMS_FIELDS,
            signed(SMS_URL, SMS_FIELDS),
            True,
            id="saved-sms-signed-for-the-public-url",
        ),
    ],
)
def test_verify(token, url, fields, signature, valid):
    assert verify(token, url, fields, signature) is valid


def test_behind_a_proxy_the_public_url_is_what_is_signed(channel_settings):
    # The request reached us as http://127.0.0.1:5005/... through a tunnel.
    public = public_url(channel_settings, "/webhooks/sms/webhook", "a=1")
    assert public == "https://engage.example.org/webhooks/sms/webhook?a=1"
    signature = signed(public, DOC_PARAMS, DOC_TOKEN)
    assert verify(DOC_TOKEN, public, DOC_PARAMS, signature)
    internal = "http://127.0.0.1:5005/webhooks/sms/webhook?a=1"
    assert not verify(DOC_TOKEN, internal, DOC_PARAMS, signature)


def test_the_public_url_has_no_question_mark_without_a_query(channel_settings):
    assert public_url(channel_settings, "/webhooks/sms/status", "") == (
        "https://engage.example.org/webhooks/sms/status"
    )


# --- form_fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param(urlencode(SMS_FIELDS).encode(), SMS_FIELDS, id="saved-sms"),
        pytest.param(b"", {}, id="empty"),
        pytest.param(b"Body=", {"Body": ""}, id="blank-value-kept"),
        pytest.param(b"Body=a&Body=b", {"Body": "b"}, id="last-value-wins"),
        pytest.param(
            b"Body=caf%C3%A9+%F0%9F%98%80&From=%2B44",
            {"Body": "caf\u00e9 \U0001f600", "From": "+44"},
            id="percent-encoded-utf8",
        ),
        pytest.param(b"\xff\xfe", BadInput("Expected a form-encoded body."), id="not-utf8"),
        pytest.param(b"just some text", BadInput("Expected a form-encoded body."), id="not-a-form"),
        pytest.param(b'{"Body": "hi"}', BadInput("Expected a form-encoded body."), id="json"),
    ],
)
def test_form_fields(body, fields):
    if isinstance(fields, BadInput):
        with pytest.raises(BadInput) as refused:
            form_fields(body)
        assert str(refused.value) == str(fields)
    else:
        assert form_fields(body) == fields


# --- parse -------------------------------------------------------------------------------

REQUIRED = BadInput("MessageSid and From are required.")
NOT_A_NUMBER = BadInput("From is not a phone number.")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            payload("twilio_sms.json"),
            Incoming("sms", NUMBER, "hi saw the poster", SMS_SID),
            id="saved-sms",
        ),
        pytest.param(
            payload("twilio_mms_photo.json"),
            Incoming("sms", NUMBER, "", MMS_SID, NON_TEXT),
            id="saved-mms-photo-without-words",
        ),
        pytest.param(
            payload("twilio_mms_photo.json", Body="  "),
            Incoming("sms", NUMBER, "  ", MMS_SID, NON_TEXT),
            id="mms-with-blank-body",
        ),
        pytest.param(
            payload("twilio_mms_photo.json", Body="the bins"),
            Incoming("sms", NUMBER, "the bins", MMS_SID),
            id="mms-with-words-is-text",
        ),
        pytest.param(
            payload("twilio_sms.json", NumMedia=None),
            Incoming("sms", NUMBER, "hi saw the poster", SMS_SID),
            id="no-num-media",
        ),
        pytest.param(
            payload("twilio_sms.json", NumMedia="", Body=""),
            Incoming("sms", NUMBER, "", SMS_SID),
            id="blank-num-media-empty-body",
        ),
        pytest.param(
            payload("twilio_sms.json", Body=None),
            Incoming("sms", NUMBER, "", SMS_SID),
            id="no-body",
        ),
        pytest.param(
            payload("twilio_sms.json", From="07700 900123"),
            Incoming("sms", NUMBER, "hi saw the poster", SMS_SID),
            id="national-number-normalised",
        ),
        pytest.param(
            payload("twilio_sms.json", From="+1 (415) 867-5309"),
            Incoming("sms", "+14158675309", "hi saw the poster", SMS_SID),
            id="formatted-number-normalised",
        ),
        pytest.param(payload("twilio_sms.json", MessageSid=None), REQUIRED, id="no-message-sid"),
        pytest.param(payload("twilio_sms.json", MessageSid=""), REQUIRED, id="blank-message-sid"),
        pytest.param(payload("twilio_sms.json", From=None), REQUIRED, id="no-from"),
        pytest.param(
            payload("twilio_sms.json", From="hello"), NOT_A_NUMBER, id="from-not-a-number"
        ),
        pytest.param(
            payload("twilio_sms.json", From="whatsapp:+447700900123"),
            NOT_A_NUMBER,
            id="from-whatsapp",
        ),
        pytest.param({}, REQUIRED, id="empty-form"),
    ],
)
def test_parse(fields, expected):
    if isinstance(expected, BadInput):
        with pytest.raises(BadInput) as refused:
            parse(fields)
        assert str(refused.value) == str(expected)
    else:
        assert parse(fields) == expected


STATUS_REQUIRED = BadInput("MessageSid and MessageStatus are required.")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            payload("twilio_status_delivered.json"),
            Status(STATUS_SID, "delivered", None, False),
            id="saved-delivered",
        ),
        pytest.param(
            payload("twilio_status_delivered.json", MessageStatus="undelivered", ErrorCode="21610"),
            Status(STATUS_SID, "undelivered", "21610", True),
            id="undelivered-21610-opted-out",
        ),
        pytest.param(
            payload("twilio_status_delivered.json", MessageStatus="failed", ErrorCode="30007"),
            Status(STATUS_SID, "failed", "30007", False),
            id="failed-30007-filtered",
        ),
        pytest.param(
            payload("twilio_status_delivered.json", MessageStatus="sent", ErrorCode=""),
            Status(STATUS_SID, "sent", None, False),
            id="blank-error-code",
        ),
        pytest.param(
            payload("twilio_status_delivered.json", MessageStatus=None),
            STATUS_REQUIRED,
            id="no-status",
        ),
        pytest.param(
            payload("twilio_status_delivered.json", MessageSid=None),
            STATUS_REQUIRED,
            id="no-message-sid",
        ),
    ],
)
def test_parse_status(fields, expected):
    if isinstance(expected, BadInput):
        with pytest.raises(BadInput) as refused:
            parse_status(fields)
        assert str(refused.value) == str(expected)
    else:
        assert parse_status(fields) == expected


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("21610", "opted_out"),
        ("21612", "unreachable"),
        ("21614", "unreachable"),
        ("30005", "unreachable"),
        ("30006", "unreachable"),
        ("21211", "permanent"),
        ("30003", "permanent"),
        ("30007", "permanent"),
        ("99999", None),
        ("", None),
        (None, None),
    ],
)
def test_meaning_of_twilio_error_codes(code, kind):
    assert meaning(code) == kind


# --- numbered options and parts ----------------------------------------------------------

YES_NO = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
SCALE = [{"title": str(i), "payload": f'/rate{{"rating":"{i}"}}'} for i in range(1, 6)]


@pytest.mark.parametrize(
    ("text", "buttons", "sent"),
    [
        pytest.param("Reply YES or NO.", YES_NO, "Reply YES or NO.\n1 Yes  2 No", id="options"),
        pytest.param("From 1 to 5?", SCALE, "From 1 to 5?", id="1-5-scale-left-alone"),
        pytest.param("From 1 to 3?", SCALE[:3], "From 1 to 3?", id="1-3-scale-left-alone"),
        pytest.param("Pick", list(reversed(SCALE[:2])), "Pick\n1 2  2 1", id="digits-out-of-order"),
        pytest.param("Hello.", [], "Hello.", id="no-buttons"),
    ],
)
def test_numbered(text, buttons, sent):
    assert numbered(text, buttons) == sent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a" * 160, ["a" * 160], id="gsm7-160-one-part"),
        pytest.param("a" * 161, ["a" * 160, "a"], id="gsm7-161-two-parts"),
        pytest.param("\u20ac" * 80, ["\u20ac" * 80], id="gsm7-extension-chars-count-twice-160"),
        pytest.param("\u20ac" * 81, ["\u20ac" * 80, "\u20ac"], id="gsm7-extension-chars-161"),
        pytest.param("\u0142" * 70, ["\u0142" * 70], id="ucs2-70-one-part"),
        pytest.param("\u0142" * 71, ["\u0142" * 70, "\u0142"], id="ucs2-71-two-parts"),
        pytest.param(
            " ".join(["word"] * 40),
            [" ".join(["word"] * 32), " ".join(["word"] * 8)],
            id="split-in-order-at-spaces",
        ),
    ],
)
def test_parts_are_single_segment_sms_in_order(channel_settings, text, expected):
    assert SmsSender(channel_settings).parts(text, []) == [(p, ()) for p in expected]


def test_parts_carry_the_numbered_options_and_no_buttons(channel_settings):
    assert SmsSender(channel_settings).parts("Reply YES or NO.", YES_NO) == [
        ("Reply YES or NO.\n1 Yes  2 No", ())
    ]


# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+447700900123", "+447700900123"),
        ("07700 900123", "+447700900123"),
        ("0044 7700-900123", "+447700900123"),
        ("+1 (415) 867-5309", "+14158675309"),
        ("447700900123", "+447700900123"),
        ("+44 (0)7700-900123", "+447700900123"),  # the trunk prefix, as on letterheads
        ("0044 (0) 7700 900123", "+447700900123"),
        ("+44 07700 900123", "+447700900123"),
        ("(0113) 496-0000", "+441134960000"),
        ("(0)7700 900123", "+447700900123"),  # no country code: its own leading 0
        ("(0) 113 496 0000", "+441134960000"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, e164):
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "hello", "+0123", "+12345678901234567", "whatsapp:+44"])
def test_non_numbers_are_refused(raw):
    with pytest.raises(InvalidNumber):
        to_e164(raw)


def test_masking_keeps_only_the_last_three_digits():
    assert mask("+447700900123") == "**********123"
    assert mask("12") == "12"


# --- SmsSender against the fake Twilio ---------------------------------------------------


@pytest.fixture
async def sender(channel_settings):
    sms = SmsSender(channel_settings)
    yield sms
    await sms.close()


def twilio_calls(fake):
    return [c for c in fake.calls if c.provider == "twilio"]


async def test_send_returns_the_sid_and_asks_for_status_reports(sender, fake):
    sid = await sender.send(NUMBER, "Reply YES or NO.\n1 Yes  2 No")
    [call] = twilio_calls(fake)
    assert sid == call.sid and sid.startswith("SM")
    assert call.params == {
        "To": NUMBER,
        "From": FROM_NUMBER,
        "Body": "Reply YES or NO.\n1 Yes  2 No",
        "StatusCallback": "https://engage.example.org/webhooks/sms/status",
    }
    assert (sender.identity, sender.channel, sender.can_reconcile) == (
        f"sms:{FROM_NUMBER}",
        "sms",
        True,
    )


async def test_send_through_a_messaging_service_without_public_url(fake, tmp_path):
    env = {**channel_env(fake.base_url), "TWILIO_MESSAGING_SERVICE_SID": "MG" + "1" * 32}
    del env["PUBLIC_BASE_URL"]
    sms = SmsSender(Settings.from_env({"ENGAGE_VAR_DIR": str(tmp_path), **env}))
    try:
        await sms.send(NUMBER, "hello")
    finally:
        await sms.close()
    [call] = twilio_calls(fake)
    assert call.params == {"To": NUMBER, "MessagingServiceSid": "MG" + "1" * 32, "Body": "hello"}
    assert sms.identity == "sms:MG" + "1" * 32


async def test_send_cuts_a_body_at_twilios_1600_characters(sender, fake):
    await sender.send(NUMBER, "x" * 2000)
    assert fake.sms_to(NUMBER) == ["x" * 1600]


@pytest.mark.parametrize(
    ("code", "opted_out", "unreachable"),
    [
        pytest.param(21610, True, False, id="21610-opted-out"),
        pytest.param(30007, False, False, id="30007-filtered"),
        pytest.param(21614, False, True, id="21614-not-mobile"),
        pytest.param(21211, False, False, id="21211-invalid-number"),
    ],
)
async def test_send_refused_for_good_is_undeliverable(sender, fake, code, opted_out, unreachable):
    fake.twilio_errors[NUMBER] = code
    with pytest.raises(Undeliverable) as refused:
        await sender.send(NUMBER, "hello")
    assert (refused.value.code, refused.value.opted_out, refused.value.unreachable) == (
        str(code),
        opted_out,
        unreachable,
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(429, "20429", id="429"),
        pytest.param(500, "20500", id="500"),
        pytest.param(503, "20500", id="503"),
    ],
)
async def test_send_busy_or_failing_is_retry_later_then_goes_through(sender, fake, status, code):
    fake.twilio_statuses[NUMBER] = [status]
    with pytest.raises(RetryLater) as busy:
        await sender.send(NUMBER, "hello")
    assert (busy.value.code, busy.value.in_doubt, busy.value.retry_after) == (code, False, None)
    assert (await sender.send(NUMBER, "hello")).startswith("SM")
    assert len(fake.accepted_sms()) == 1


async def test_send_to_nobody_listening_is_retry_later_not_in_doubt(fake, tmp_path):
    env = {**channel_env(fake.base_url), "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    sms = SmsSender(Settings.from_env({"ENGAGE_VAR_DIR": str(tmp_path), **env}))
    try:
        with pytest.raises(RetryLater) as down:
            await sms.send(NUMBER, "hello")
    finally:
        await sms.close()
    assert (down.value.code, down.value.in_doubt) == ("connection", False)


async def test_send_timing_out_is_retry_later_in_doubt(fake, channel_settings, monkeypatch):
    monkeypatch.setattr(twilio_sms, "TIMEOUT_S", 0.1)
    fake.delay_s = 0.5
    sms = SmsSender(channel_settings)
    try:
        with pytest.raises(RetryLater) as lost:
            await sms.send(NUMBER, "hello")
    finally:
        await sms.close()
    assert (lost.value.code, lost.value.in_doubt) == ("timeout", True)
    await asyncio.sleep(0.5)  # let the fake answer before it stops


async def test_find_sent_finds_the_sid_of_a_text_sent_since(sender):
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    sid = await sender.send(NUMBER, "hello")
    assert await sender.find_sent(NUMBER, "hello", since) == sid
    assert await sender.find_sent(NUMBER, "another text", since) is None
    assert await sender.find_sent("+447700900999", "hello", since) is None
    assert await sender.find_sent(NUMBER, "hello", since + timedelta(hours=1)) is None


async def test_find_sent_with_twilio_down_is_retry_later_in_doubt(fake, tmp_path):
    env = {**channel_env(fake.base_url), "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    sms = SmsSender(Settings.from_env({"ENGAGE_VAR_DIR": str(tmp_path), **env}))
    try:
        with pytest.raises(RetryLater) as down:
            await sms.find_sent(NUMBER, "hello", datetime.now(timezone.utc))
    finally:
        await sms.close()
    assert (down.value.code, down.value.in_doubt) == ("lookup", True)


async def test_a_closed_sender_opens_new_connections(sender, fake):
    await sender.send(NUMBER, "one")
    await sender.close()
    await sender.send(NUMBER, "two")
    assert fake.sms_to(NUMBER) == ["one", "two"]


async def test_no_phone_number_or_token_reaches_the_logs(sender, fake, caplog):
    caplog.set_level(logging.DEBUG)
    await sender.send(NUMBER, "hello")
    await sender.find_sent(NUMBER, "hello", datetime.now(timezone.utc))  # To= in the query
    fake.twilio_errors[NUMBER] = 30007
    with pytest.raises(Undeliverable):
        await sender.send(NUMBER, "hello")
    assert len(twilio_calls(fake)) == 2
    assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text
    assert AUTH_TOKEN not in caplog.text
