"""The public webhooks under attack: what a stranger, a replaying proxy or a resident typing
odd things can make the gateway store, send or log (issue 13).

The gateway runs in-process as in tests/bot/test_gateway.py (its fixtures are reused), on
SQLite and, with TEST_DATABASE_URL, PostgreSQL; Rasa is down, so whatever is accepted
stays in the inbox to be looked at.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot import gateway as gateway_module
from bot.chat import chat
from bot.keywords import OPT_OUT_KEYWORDS
from bot.models import ChannelIdentity, Resident
from bot.outbound import Outbound
from bot.services.delivery import offer_choices
from bot.services.identities import resident_for
from bot.settings import Settings
from bot.sms import segments
from channels.common import MAX_BODY_BYTES
from channels.telegram import MAX_MESSAGE_CHARS as TELEGRAM_MAX_CHARS
from channels.telegram import TelegramSender, make_bot
from channels.twilio_sms import EMPTY_TWIML, SmsSender
from channels.twilio_sms import MAX_MESSAGE_CHARS as SMS_MAX_CHARS
from tests.bot.test_gateway import (
    CHAT,
    NUMBER,
    REST_API_TOKEN,
    REST_AUTH,
    REST_PATH,
    SMS_PATH,
    STATUS_PATH,
    TELEGRAM_PATH,
    Running,
    acknowledged,
    answer,
    assert_nothing_stored,
    consent_events,
    eventually,
    identities,
    inbound_ids,
    inbox,
    post_telegram,
    post_twilio,
    resident,
    serving,
    sms_fields,
    telegram_update,
    twilio_signature,
)
from tests.channels.conftest import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    WEBHOOK_SECRET,
    channel_env,
    payload,
)

REST_SENDER = "web-visitor-1"
REST_KEPT = "The assistant is busy; your message is kept and will be processed."
INVALID_SIGNATURE = (403, "Invalid Twilio signature.")
INVALID_SECRET = (403, "Invalid secret token.")
TOO_LARGE = (413, "Request body too large.")
NEEDS_TOKEN = (401, "A valid bearer token is required.")
CHANNELS = ["sms", "telegram", "rest"]


@pytest.fixture
async def gw(database, fake, tmp_path, monkeypatch) -> AsyncIterator[Running]:
    """The gateway with every channel on (public, REST behind its token), Rasa down."""
    monkeypatch.setattr(gateway_module, "REST_WAIT_S", 0.1)  # Rasa is down: answer at once
    async with serving(database, fake, channel_env(fake.base_url), tmp_path) as running:
        yield running


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


# --- sending as each channel does ---------------------------------------------------------


async def post_rest(
    gw: Running, message: str, sender: str = REST_SENDER, headers: dict | None = None
) -> ClientResponse:
    return await gw.client.post(
        REST_PATH,
        json={"sender": sender, "message": message},
        headers=REST_AUTH if headers is None else headers,
    )


async def send(gw: Running, channel: str, text: str, n: int = 1) -> tuple[int, str]:
    """`text` as a resident types it on `channel` (message `n`): the gateway's answer."""
    if channel == "sms":
        response = await post_twilio(gw, sms_fields(text, f"SM{n:032d}"))
    elif channel == "telegram":
        update = telegram_update("telegram_message.json", 815100000 + n, text=text)
        response = await post_telegram(gw, update)
    else:
        response = await post_rest(gw, text)
    return await answer(response)


ACCEPTED = {
    "sms": (200, EMPTY_TWIML),
    "telegram": (200, "ok"),
    "rest": (503, json.dumps({"error": REST_KEPT})),  # kept: Rasa is down
}
ADDRESS = {"sms": NUMBER, "telegram": CHAT, "rest": REST_SENDER}


def texts(gw: Running) -> list[str]:
    return [text for _, text, _ in inbox(gw.database)]


async def raw_http(gw: Running, request: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes to the gateway; the status and body of its answer, within `timeout`.

    For what an HTTP client library will not send: a Content-Length larger than the body
    that follows it, or header bytes that are not UTF-8.
    """
    reader, writer = await asyncio.open_connection(gw.client.host, gw.client.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        body = await asyncio.wait_for(reader.readexactly(length), timeout)
        return status, body
    finally:
        writer.close()


def request_head(path: str, headers: dict[str, str | bytes]) -> bytes:
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    for name, value in headers.items():
        raw = value if isinstance(value, bytes) else value.encode()
        lines.append(name.encode() + b": " + raw)
    return b"\r\n".join(lines) + b"\r\n\r\n"


# --- Twilio signatures -------------------------------------------------------------------


@pytest.mark.parametrize("path", [SMS_PATH, STATUS_PATH])
async def test_twilio_without_a_signature_is_403_and_stores_nothing(gw, path):
    fields = sms_fields("STOP", "SM1", MessageStatus="delivered")
    response = await post_twilio(gw, fields, path, signature="")
    assert await answer(response) == INVALID_SIGNATURE
    assert_nothing_stored(gw.database)
    assert consent_events(gw.database) == []


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("not-a-signature", id="garbage"),
        pytest.param(twilio_signature(SMS_PATH, sms_fields("STOP", "SM1"))[:-2], id="truncated"),
        pytest.param(
            twilio_signature(SMS_PATH, sms_fields("STOP", "SM1"), "another-account-token"),
            id="another-auth-token",
        ),
        pytest.param(
            twilio_signature(SMS_PATH, sms_fields("STOP", "SM1")).lower(), id="case-changed"
        ),
    ],
)
async def test_twilio_with_a_wrong_signature_is_403_and_stores_nothing(gw, signature):
    response = await post_twilio(gw, sms_fields("STOP", "SM1"), signature=signature)
    assert await answer(response) == INVALID_SIGNATURE
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"Body": "START"}, id="body"),
        pytest.param({"From": "+447700900999"}, id="from"),
        pytest.param({"MessageSid": "SM2", "SmsSid": "SM2"}, id="message-sid"),
        pytest.param({"NumMedia": "1"}, id="num-media"),
        pytest.param({"Extra": "added"}, id="parameter-added"),
        pytest.param({"To": None}, id="parameter-removed"),
    ],
)
async def test_twilio_with_a_parameter_changed_after_signing_is_403(gw, change):
    signed = sms_fields("hello", "SM1")
    sent = {k: v for k, v in {**signed, **change}.items() if v is not None}
    response = await post_twilio(gw, sent, signature=twilio_signature(SMS_PATH, signed))
    assert await answer(response) == INVALID_SIGNATURE
    assert_nothing_stored(gw.database)


async def test_twilio_signed_for_the_internal_host_is_403_behind_the_proxy(gw):
    fields = sms_fields("hello", "SM1")
    internal = str(gw.client.make_url(SMS_PATH))  # http://127.0.0.1:<port>/webhooks/...
    signature = RequestValidator(AUTH_TOKEN).compute_signature(internal, fields)
    response = await post_twilio(gw, fields, signature=signature)
    assert await answer(response) == INVALID_SIGNATURE
    assert_nothing_stored(gw.database)


async def test_twilio_forwarded_host_headers_cannot_choose_the_signed_url(gw):
    fields = sms_fields("hello", "SM1")
    forged = "http://evil.example"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(forged + SMS_PATH, fields)
    response = await gw.client.post(
        SMS_PATH,
        data=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "Host": "evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
        },
    )
    assert await answer(response) == INVALID_SIGNATURE
    assert_nothing_stored(gw.database)


async def test_twilio_signed_for_public_base_url_is_accepted_on_the_internal_host(gw):
    fields = sms_fields("hello", "SM1")
    assert not str(gw.client.make_url(SMS_PATH)).startswith(PUBLIC_BASE_URL)
    response = await post_twilio(gw, fields)  # signed for PUBLIC_BASE_URL + path
    assert await answer(response) == (200, EMPTY_TWIML)
    assert inbox(gw.database) == [("sms", "hello", "pending")]


async def test_twilio_query_string_is_part_of_the_signed_url(gw):
    fields = sms_fields("hello", "SM1")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    path = f"{SMS_PATH}?tenant=leeds"
    without_query = twilio_signature(SMS_PATH, fields)
    refused = await gw.client.post(
        path, data=urlencode(fields), headers={**headers, "X-Twilio-Signature": without_query}
    )
    assert await answer(refused) == INVALID_SIGNATURE
    with_query = twilio_signature(path, fields)
    taken = await gw.client.post(
        path, data=urlencode(fields), headers={**headers, "X-Twilio-Signature": with_query}
    )
    assert await answer(taken) == (200, EMPTY_TWIML)
    assert texts(gw) == ["hello"]


# --- Telegram secret and content type ------------------------------------------------------


async def test_telegram_without_the_secret_is_403_and_stores_nothing(gw):
    response = await post_telegram(gw, telegram_update("telegram_message.json"), secret=None)
    assert await answer(response) == INVALID_SECRET
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("", id="empty"),
        pytest.param("another-secret-0123456789", id="another"),
        pytest.param(WEBHOOK_SECRET[:-1], id="prefix"),
        pytest.param(WEBHOOK_SECRET + "0", id="longer"),
        pytest.param(WEBHOOK_SECRET.upper(), id="case-changed"),
        pytest.param(WEBHOOK_SECRET[:5] + "X" + WEBHOOK_SECRET[6:], id="one-char-changed"),
    ],
)
async def test_telegram_with_a_wrong_secret_is_403_and_stores_nothing(gw, secret):
    response = await post_telegram(gw, telegram_update("telegram_message.json"), secret=secret)
    assert await answer(response) == INVALID_SECRET
    assert_nothing_stored(gw.database)


async def test_telegram_secret_of_non_utf8_bytes_is_403_not_a_failure(gw, caplog):
    body = json.dumps(telegram_update("telegram_message.json")).encode()
    head = request_head(
        TELEGRAM_PATH,
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "X-Telegram-Bot-Api-Secret-Token": b"\xff\xfe" + WEBHOOK_SECRET.encode(),
            "Connection": "close",
        },
    )
    assert await raw_http(gw, head + body) == (403, b"Invalid secret token.")
    assert "A webhook failed" not in caplog.text
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
async def test_telegram_with_a_content_type_other_than_json_is_415(gw, content_type):
    update = telegram_update("telegram_message.json")
    response = await post_telegram(gw, update, content_type=content_type)
    assert await answer(response) == (415, "Expected application/json.")
    assert_nothing_stored(gw.database)


# --- replays -------------------------------------------------------------------------------


async def test_a_replayed_message_sid_is_answered_200_and_stored_once(gw):
    first = await post_twilio(gw, sms_fields("STOP", "SM1"))
    replayed = await post_twilio(gw, sms_fields("START", "SM1"))  # same sid, other body
    assert await answer(first) == await answer(replayed) == (200, EMPTY_TWIML)
    assert inbox(gw.database) == [("sms", "/opt_out", "pending")]
    assert inbound_ids(gw.database) == [("sms", "SM1")]
    assert consent_events(gw.database) == [("opted_out", "sms")]


async def test_a_replayed_update_id_is_answered_200_and_stored_once(gw):
    first = telegram_update("telegram_message.json", 815000099, text="hello")
    replayed = telegram_update("telegram_message.json", 815000099, text="something else")
    answers = [await answer(await post_telegram(gw, u)) for u in (first, replayed, first)]
    assert answers == [(200, "ok")] * 3
    assert inbox(gw.database) == [("telegram", "hello", "pending")]
    assert inbound_ids(gw.database) == [("telegram", "815000099")]


async def test_replays_arriving_at_once_are_stored_once(gw):
    sms = [post_twilio(gw, sms_fields("hello", "SM1")) for _ in range(5)]
    update = telegram_update("telegram_message.json", 815000100, text="hello")
    updates = [post_telegram(gw, update) for _ in range(5)]
    responses = await asyncio.gather(*sms, *updates)
    assert sorted(r.status for r in responses) == [200] * 10
    assert sorted(inbox(gw.database)) == [
        ("sms", "hello", "pending"),
        ("telegram", "hello", "pending"),
    ]
    assert sorted(inbound_ids(gw.database)) == [("sms", "SM1"), ("telegram", "815000100")]


# --- oversize bodies -----------------------------------------------------------------------

ROUTE_HEADERS = {
    SMS_PATH: {"Content-Type": "application/x-www-form-urlencoded"},
    STATUS_PATH: {"Content-Type": "application/x-www-form-urlencoded"},
    TELEGRAM_PATH: {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
    },
    REST_PATH: {"Content-Type": "application/json", **REST_AUTH},
}


@pytest.mark.parametrize("path", list(ROUTE_HEADERS))
async def test_a_declared_oversize_body_is_413_before_a_byte_of_it_is_read(gw, path):
    # 100 MB announced, nothing sent: an answer now means the body was never waited for.
    head = request_head(path, {**ROUTE_HEADERS[path], "Content-Length": str(100_000_000)})
    assert await raw_http(gw, head, timeout=5) == (413, b"Request body too large.")
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize("path", [SMS_PATH, TELEGRAM_PATH, REST_PATH])
async def test_a_chunked_oversize_body_is_413_once_past_the_limit(gw, path):
    # One chunk of 1 MiB announced, only a little over 64 KiB of it sent: refused anyway.
    head = request_head(path, {**ROUTE_HEADERS[path], "Transfer-Encoding": "chunked"})
    chunk = f"{1024 * 1024:x}\r\n".encode() + b"a" * (MAX_BODY_BYTES + 1024)
    assert await raw_http(gw, head + chunk, timeout=5) == (413, b"Request body too large.")
    assert_nothing_stored(gw.database)


async def test_the_gateway_refuses_bodies_over_64_kib_by_configuration(gw):
    assert MAX_BODY_BYTES == 64 * 1024
    assert gw.client.server.app._client_max_size == MAX_BODY_BYTES + 1


# --- empty and malformed bodies --------------------------------------------------------------


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        pytest.param(TELEGRAM_PATH, b"", "Expected a Telegram Update as JSON.", id="tg-empty"),
        pytest.param(TELEGRAM_PATH, b"null", "Expected a Telegram Update as JSON.", id="tg-null"),
        pytest.param(
            TELEGRAM_PATH, b"\xff\xfe{}", "Expected a Telegram Update as JSON.", id="tg-not-utf8"
        ),
        pytest.param(
            TELEGRAM_PATH,
            b'{"update_id": 1, "message": ' + _deep(20000) + b"}",
            "Expected a Telegram Update as JSON.",
            id="tg-nested-20000-deep",
        ),
        pytest.param(
            TELEGRAM_PATH,
            b'{"update_id": 1, "callback_query": {"id": 5, "data": ["x"]}}',
            "Expected a Telegram Update as JSON.",
            id="tg-wrong-types",
        ),
        pytest.param(REST_PATH, b"", "The body must be JSON.", id="rest-empty"),
        pytest.param(REST_PATH, b"\xff\xfe", "The body must be JSON.", id="rest-not-utf8"),
        pytest.param(REST_PATH, _deep(30000), "The body must be JSON.", id="rest-nested-30000"),
        pytest.param(
            REST_PATH,
            b'{"sender": "a\\u0000b", "message": "hi"}',
            '"sender" must not contain control characters.',
            id="rest-nul-in-sender",
        ),
        pytest.param(
            REST_PATH,
            b'{"sender": {"$ne": null}, "message": "hi"}',
            '"sender" must be a string of 1 to 255 characters.',
            id="rest-object-sender",
        ),
    ],
)
async def test_an_empty_or_malformed_json_body_is_400_without_a_stack_trace(
    gw, caplog, path, body, reason
):
    headers = {"Content-Type": "application/json"}
    headers.update(REST_AUTH if path == REST_PATH else {})
    if path == TELEGRAM_PATH:
        headers["X-Telegram-Bot-Api-Secret-Token"] = WEBHOOK_SECRET
    response = await gw.client.post(path, data=body, headers=headers)
    assert await answer(response) == (400, reason)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({}, "MessageSid and From are required.", id="empty-form"),
        pytest.param(
            {"MessageSid": "SM1", "From": "'; DROP TABLE residents; --", "Body": "hi"},
            "From is not a phone number.",
            id="from-not-a-number",
        ),
        pytest.param({"MessageSid": "SM1", "Body": "hi"}, "MessageSid and From are required."),
    ],
)
async def test_a_signed_but_malformed_sms_is_400_without_a_stack_trace(gw, fields, reason):
    response = await post_twilio(gw, fields)
    assert await answer(response) == (400, reason)
    assert_nothing_stored(gw.database)


async def test_a_body_that_is_not_a_form_is_400(gw):
    response = await gw.client.post(
        SMS_PATH,
        data=b"\xff\xfe not a form %%%",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert await answer(response) == (400, "Expected a form-encoded body.")
    assert_nothing_stored(gw.database)


async def test_refusals_log_no_phone_number_chat_id_text_or_secret_at_warning(gw, caplog):
    caplog.set_level(logging.DEBUG)
    secret_text = "my address is 12 Acacia Avenue"
    fields = sms_fields(secret_text, "SM1")
    tg = telegram_update("telegram_message.json", text=secret_text)
    rest_body = {"sender": "+447700900555", "message": secret_text}
    await post_twilio(gw, fields, signature="wrong")
    await post_twilio(gw, {**fields, "From": "not a number"})
    await post_telegram(gw, tg, secret="wrong-secret-0123456789")
    await post_telegram(gw, tg, content_type="text/plain")
    await post_telegram(gw, b'{"update_id": "' + secret_text.encode() + b'"}')
    await gw.client.post(REST_PATH, json=rest_body)  # no token
    await gw.client.post(REST_PATH, json=rest_body, headers={"Authorization": "Bearer nope"})
    await gw.client.post(REST_PATH, data=b"{" + secret_text.encode(), headers=REST_AUTH)
    loud = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "Rejected an SMS webhook" in loud and "Rejected a Telegram update" in loud
    for private in (NUMBER, NUMBER[1:], "447700900555", CHAT, secret_text, "Acacia"):
        assert private not in loud
    for secret in (AUTH_TOKEN, WEBHOOK_SECRET, REST_API_TOKEN, "nope"):
        assert secret not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- text arrives exactly as typed -------------------------------------------------------------

UNICODE = {
    "emoji-zwj": "Family 👨\u200d👩\u200d👧\u200d👦 and 🏳️\u200d🌈",
    "flag-tags": "Scotland \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "rtl": "שלום, הבית שלי קר \u200f\u0645\u0631\u062d\u0628\u0627 \u0628\u0643\u0645\u200f",
    "rtl-override": "abc \u202egnirts desrever\u202c def",
    "zero-width": "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffjoiner",
    "combining": "Cafe\u0301 vs Café, A\u030a vs Å",
    "cjk-astral": "公園のゴミ \U0001d518\U0001d52b \U0001f9d1\U0001f3ff\u200d\U0001f9af",
    "edges": "\u200bstarts and ends with format characters\u200e",
}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("name", list(UNICODE))
async def test_unicode_reaches_the_inbox_byte_exact(gw, channel, name):
    typed = UNICODE[name]
    assert await send(gw, channel, typed) == ACCEPTED[channel]
    [stored] = texts(gw)
    assert stored.encode("utf-8") == typed.encode("utf-8")


SQL = [
    "'; DROP TABLE residents; --",
    "Robert'); DELETE FROM inbox_messages WHERE ('1'='1",
    '" OR "1"="1',
    "100% off_ \\ LIKE wildcards %%",
    "$$; TRUNCATE channel_identities; $$",
    "1; SELECT pg_sleep(10)",
]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_sql_metacharacters_are_stored_literally(gw, channel):
    for n, typed in enumerate(SQL, start=1):
        assert await send(gw, channel, typed, n) == ACCEPTED[channel]
    assert texts(gw) == SQL
    with gw.database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Resident)) == 1


async def test_an_sql_shaped_rest_sender_is_an_address_stored_literally(gw):
    sender = "x' OR '1'='1'; --"
    assert await answer(await post_rest(gw, "hello", sender=sender)) == ACCEPTED["rest"]
    assert identities(gw.database) == [("rest", sender)]
    with gw.database.transaction() as s:
        assert s.scalars(select(ChannelIdentity.address)).all() == [sender]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_nul_character_is_dropped_not_a_failure(gw, channel):
    assert await send(gw, channel, "before\x00after") == ACCEPTED[channel]
    assert texts(gw) == ["beforeafter"]


# --- nobody types an intent at Rasa ---------------------------------------------------------

TYPED_INTENTS = [
    "/restart",
    '/opt_in{"consent":"given"}',
    '/set_theme{"theme":"housing"}',
    "/ /restart",
    "/\t/session_start",
    "//opt_out",
    "  /affirm",
    "\u00a0/restart",
    "/ / / /greet",
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed", TYPED_INTENTS)
async def test_a_typed_intent_reaches_the_inbox_as_plain_text(gw, channel, typed):
    assert await send(gw, channel, typed) == ACCEPTED[channel]
    [stored] = texts(gw)
    assert not stored.strip().startswith("/")  # Rasa strips, then looks for "/"
    assert stored == typed.strip().lstrip("/ \t").strip()


@pytest.mark.parametrize(
    "data",
    [
        "/restart",
        "/opt_in",
        "/session_start",
        "/non_text",
        '/set_theme{"theme":"housing"}',  # ours in shape, but not offered now
        '/rate{"rating":"5"}',
    ],
)
async def test_a_forged_telegram_callback_is_acknowledged_and_never_stored(gw, data):
    with gw.database.transaction() as s:
        offer_choices(s, resident_for(s, "telegram", CHAT).id, "telegram", ["/affirm", "/deny"])
    update = payload("telegram_callback_query.json")
    update["callback_query"]["data"] = data
    assert await answer(await post_telegram(gw, update)) == (200, "ok")
    await eventually(lambda: acknowledged(gw.fake) == ["4382bfdwdsb323b2d9"])
    assert inbox(gw.database) == []
    assert consent_events(gw.database) == []


async def test_a_callback_from_a_chat_never_offered_buttons_creates_no_resident(gw):
    update = payload("telegram_callback_query.json")  # "/affirm", a payload of ours
    assert await answer(await post_telegram(gw, update)) == (200, "ok")
    await eventually(lambda: acknowledged(gw.fake) == ["4382bfdwdsb323b2d9"])
    assert (inbox(gw.database), identities(gw.database)) == ([], [])


async def test_only_an_offered_payload_reaches_the_inbox_starting_with_a_slash(gw):
    with gw.database.transaction() as s:
        offer_choices(s, resident_for(s, "telegram", CHAT).id, "telegram", ["/affirm", "/deny"])
        offer_choices(s, resident_for(s, "sms", NUMBER).id, "sms", ["/affirm", "/deny"])
    press = payload("telegram_callback_query.json")
    press["callback_query"]["data"] = "/deny"
    assert (await post_telegram(gw, press)).status == 200
    for n, typed in enumerate(["1", "3", "0", "-1", "/1"], start=1):
        assert (await post_twilio(gw, sms_fields(typed, f"SM{n}"))).status == 200
    assert inbox(gw.database) == [
        ("telegram", "/deny", "pending"),
        ("sms", "/affirm", "pending"),
        ("sms", "3", "pending"),
        ("sms", "0", "pending"),
        ("sms", "-1", "pending"),
        ("sms", "1", "pending"),
    ]


async def test_telegram_commands_other_than_start_stop_help_are_plain_text(gw):
    for n, command in enumerate(["/restart", "/session_start@engage_bot", "/opt_in"], start=1):
        update = telegram_update("telegram_message.json", 815000200 + n, text=command)
        assert (await post_telegram(gw, update)).status == 200
    assert texts(gw) == ["restart", "session_start@engage_bot", "opt_in"]
    assert consent_events(gw.database) == []


# --- opt-out words ---------------------------------------------------------------------------

OPT_OUT_SPELLINGS = [
    "STOP",
    "stop",
    "Stop ",
    "sToP",
    " STOP\n",
    "\tstop.",
    "STOP!",
    "Stop\u00a0",
    "UNSUBSCRIBE",
    "unsubscribe",
    "End",
    "QUIT",
    "quit.",
    "CANCEL",
    "cancel!",
    "StopAll",
    "revoke",
    "OptOut",
    '"stop"',
]


def test_the_spellings_cover_every_opt_out_keyword():
    assert {s.strip(' \t\n\u00a0.!"').upper() for s in OPT_OUT_SPELLINGS} == OPT_OUT_KEYWORDS


@pytest.mark.parametrize("channel", ["sms", "telegram"])
@pytest.mark.parametrize("typed", OPT_OUT_SPELLINGS)
async def test_every_opt_out_word_in_any_case_and_spacing_is_an_opt_out(gw, channel, typed):
    assert await send(gw, channel, typed) == ACCEPTED[channel]
    assert inbox(gw.database) == [(channel, "/opt_out", "pending")]
    assert consent_events(gw.database) == [("opted_out", channel)]
    assert resident(gw.database, channel, ADDRESS[channel]).opted_out_at is not None


# --- the REST channel is not open to anyone ---------------------------------------------------


async def test_public_rest_without_a_token_is_401_and_stores_nothing(gw):
    response = await post_rest(gw, "hello", headers={})
    assert await answer(response) == NEEDS_TOKEN
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        REST_API_TOKEN,
        f"bearer{REST_API_TOKEN}",
        f"Bearer {REST_API_TOKEN[:-1]}",
        f"Bearer {REST_API_TOKEN}x",
        f"Basic {REST_API_TOKEN}",
        "Bearer ",
    ],
)
async def test_public_rest_with_a_wrong_token_is_401_and_stores_nothing(gw, authorization):
    response = await post_rest(gw, "hello", headers={"Authorization": authorization})
    assert await answer(response) == NEEDS_TOKEN
    assert_nothing_stored(gw.database)


async def test_public_rest_with_the_token_is_taken(gw):
    assert await answer(await post_rest(gw, "hello")) == ACCEPTED["rest"]
    assert inbox(gw.database) == [("rest", "hello", "pending")]


async def test_rest_refuses_a_stranger_before_reading_the_body(gw):
    head = request_head(
        REST_PATH, {"Content-Type": "application/json", "Content-Length": str(60_000)}
    )
    assert await raw_http(gw, head, timeout=5) == (401, b"A valid bearer token is required.")


async def test_public_rest_without_a_configured_token_is_off(database, fake, tmp_path):
    env = {**channel_env(fake.base_url), "REST_API_TOKEN": ""}
    async with serving(database, fake, env, tmp_path) as gw:
        for headers in ({}, {"Authorization": "Bearer "}, REST_AUTH):
            response = await post_rest(gw, "hello", headers=headers)
            assert await answer(response) == (404, "The REST channel is off here.")
    assert_nothing_stored(database)


async def test_rest_on_a_laptop_without_a_token_stays_open(database, fake, tmp_path, monkeypatch):
    monkeypatch.setattr(gateway_module, "REST_WAIT_S", 0.1)
    env = {**without(channel_env(fake.base_url), "PUBLIC_BASE_URL"), "REST_API_TOKEN": ""}
    async with serving(database, fake, env, tmp_path) as gw:
        assert await answer(await post_rest(gw, "hello", headers={})) == ACCEPTED["rest"]
        assert inbox(database) == [("rest", "hello", "pending")]


async def test_rest_on_a_laptop_with_a_token_set_needs_it(database, fake, tmp_path):
    env = without(channel_env(fake.base_url), "PUBLIC_BASE_URL")
    async with serving(database, fake, env, tmp_path) as gw:
        assert not gw.gateway.settings.public_base_url
        response = await post_rest(gw, "hello", headers={})
        assert await answer(response) == NEEDS_TOKEN
    assert_nothing_stored(database)


async def test_the_terminal_chat_sends_the_rest_token(gw):
    said: list[str] = []
    typed = iter(["hello from the terminal"])

    def read(_: str) -> str:
        line = next(typed, None)
        if line is None:
            raise EOFError
        return line

    url = str(gw.client.make_url(REST_PATH))
    code = await asyncio.to_thread(chat, url, "terminal-1", read, said.append, 5.0, REST_API_TOKEN)
    assert code == 0
    assert inbox(gw.database) == [("rest", "hello from the terminal", "pending")]


async def test_the_terminal_chat_without_the_token_says_what_to_set(gw):
    said: list[str] = []
    url = str(gw.client.make_url(REST_PATH))
    code = await asyncio.to_thread(chat, url, "terminal-1", lambda _: "hi", said.append, 5.0)
    assert code == 1
    assert "REST_API_TOKEN" in said[-1]
    assert_nothing_stored(gw.database)


# --- SMS segments and long replies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a" * 160, ("GSM-7", 1), id="gsm7-160"),
        pytest.param("a" * 161, ("GSM-7", 2), id="gsm7-161"),
        pytest.param("a" * 306, ("GSM-7", 2), id="gsm7-2x153"),
        pytest.param("a" * 307, ("GSM-7", 3), id="gsm7-307"),
        pytest.param("€" * 80, ("GSM-7", 1), id="gsm7-80-extension-chars"),
        pytest.param("€" * 80 + "a", ("GSM-7", 2), id="gsm7-161-septets"),
        pytest.param("ж" * 70, ("UCS-2", 1), id="ucs2-70"),
        pytest.param("ж" * 71, ("UCS-2", 2), id="ucs2-71"),
        pytest.param("a" * 69 + "ж", ("UCS-2", 1), id="one-cyrillic-makes-ucs2-70"),
        pytest.param("a" * 70 + "ж", ("UCS-2", 2), id="one-cyrillic-makes-ucs2-71"),
        pytest.param("😀" * 35, ("UCS-2", 1), id="emoji-35-is-70-units"),
        pytest.param("😀" * 35 + "a", ("UCS-2", 2), id="emoji-35-plus-one-is-71-units"),
        pytest.param("ж" * 134, ("UCS-2", 2), id="ucs2-2x67"),
        pytest.param("ж" * 135, ("UCS-2", 3), id="ucs2-135"),
    ],
)
def test_sms_segment_edges(text, expected):
    assert segments(text) == expected


def numbered_words(count: int, word: str = "word") -> str:
    return " ".join(f"{word}{i:04d}" for i in range(count))


@pytest.mark.parametrize("word", ["word", "wörd😀"], ids=["gsm7", "ucs2"])
def test_an_sms_reply_over_1600_characters_goes_out_as_single_segments_in_order(word):
    text = numbered_words(300, word)
    assert len(text) > SMS_MAX_CHARS
    parts = SmsSender(Settings.from_env({})).parts(text, [])
    assert " ".join(part for part, _ in parts) == text
    assert all(segments(part)[1] == 1 and buttons == () for part, buttons in parts)


def test_a_telegram_reply_over_4096_characters_is_split_in_order_with_buttons_last():
    text = numbered_words(1500)  # 13,499 characters
    buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    bot = make_bot(Settings.from_env({"TELEGRAM_BOT_TOKEN": "123:abc"}))
    parts = TelegramSender(bot).parts(text, buttons)
    assert len(parts) == 4
    assert " ".join(part for part, _ in parts) == text
    assert all(len(part) <= TELEGRAM_MAX_CHARS for part, _ in parts)
    assert [b for _, b in parts] == [(), (), (), tuple(buttons)]


@pytest.fixture
async def fast_gw(database, fake, tmp_path) -> AsyncIterator[Running]:
    """The gateway with sending rates high enough not to wait between parts."""
    env = {
        **channel_env(fake.base_url),
        "SMS_PER_SECOND": "500",
        "TELEGRAM_PER_SECOND": "500",
        "TELEGRAM_PER_CHAT_PER_SECOND": "30",
    }
    async with serving(database, fake, env, tmp_path) as running:
        yield running


async def test_long_replies_reach_the_providers_whole_and_in_order(fast_gw):
    gw = fast_gw
    sms_text, telegram_text = numbered_words(300), numbered_words(900)
    with gw.database.transaction() as s:
        by_sms = resident_for(s, "sms", NUMBER).conversation_id
        by_telegram = resident_for(s, "telegram", CHAT).conversation_id
    outbound = Outbound(gw.database, gw.gateway.settings, gw.gateway.senders)
    sent_sms = await outbound.deliver(by_sms, "sms", [{"text": sms_text}])
    sent_tg = await outbound.deliver(by_telegram, "telegram", [{"text": telegram_text}])
    assert (sent_sms.error, sent_tg.error) == (None, None)
    assert " ".join(gw.fake.sms_to(NUMBER)) == sms_text
    assert len(gw.fake.sms_to(NUMBER)) == sent_sms.sent > 10
    assert " ".join(m["text"] for m in gw.fake.telegram_to(CHAT)) == telegram_text
    assert len(gw.fake.telegram_to(CHAT)) == sent_tg.sent == 2
