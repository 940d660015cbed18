"""`engage gateway` in-process: provider webhooks into the durable inbox, with Rasa down.

The gateway runs on aiohttp's test server with the real database (SQLite, and PostgreSQL
when TEST_DATABASE_URL is set), SMS and Telegram configured against the fake providers,
and its inbox worker running against a Rasa that is not there: what the webhooks accept
stays in the inbox.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from bot import gateway as gateway_module
from bot.db import Database
from bot.fake_providers import FakeProviders
from bot.gateway import Gateway, make_app
from bot.inbox_worker import InboxWorker
from bot.models import (
    ChannelIdentity,
    ConsentEvent,
    InboundMessage,
    InboxMessage,
    OutboundMessage,
    Resident,
    utcnow,
)
from bot.outbound import Outbound, senders_for
from bot.rasa_client import RasaClient
from bot.services.delivery import Sent, offer_choices, record_sent
from bot.services.identities import resident_for
from bot.settings import Settings
from channels.twilio_sms import EMPTY_TWIML
from tests.channels.conftest import (
    AUTH_TOKEN,
    BOT_TOKEN,
    PUBLIC_BASE_URL,
    WEBHOOK_SECRET,
    channel_env,
    payload,
)
from tests.ports import free_port

NUMBER = "+447700900123"  # the saved SMS payloads' sender
CHAT = "5550001"  # the saved Telegram payloads' private chat
SMS_PATH = "/webhooks/sms/webhook"
STATUS_PATH = "/webhooks/sms/status"
TELEGRAM_PATH = "/webhooks/telegram/webhook"
REST_PATH = "/webhooks/rest/webhook"
REST_API_TOKEN = "test-rest-token-0123456789"
REST_AUTH = {"Authorization": f"Bearer {REST_API_TOKEN}"}
UNAVAILABLE = "Temporarily unavailable; please try again."


# --- the running gateway -----------------------------------------------------------------


@dataclass
class Running:
    """A gateway being served, and what it talks to."""

    client: TestClient
    gateway: Gateway
    database: Database
    fake: FakeProviders


@asynccontextmanager
async def serving(
    database: Database, fake: FakeProviders, env: dict[str, str], var_dir: Path
) -> AsyncIterator[Running]:
    """A gateway with `env`'s channels, its worker running, Rasa down (a closed port)."""
    settings = Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(var_dir),
            "RASA_URL": f"http://127.0.0.1:{free_port()}",
            "RASA_API_TOKEN": "test-api-token-0123456789",
            "REST_API_TOKEN": REST_API_TOKEN,
            "QUIET_HOURS": "off",
            **env,
        }
    )
    senders = senders_for(settings)
    rasa = RasaClient(settings.rasa_url, settings.rasa_api_token)
    worker = InboxWorker(database, rasa, Outbound(database, settings, senders))
    gateway = Gateway(settings, database, worker, senders)
    client = TestClient(TestServer(make_app(gateway)))
    await client.start_server()
    working = asyncio.create_task(worker.run_forever())
    try:
        yield Running(client, gateway, database, fake)
    finally:
        working.cancel()
        await asyncio.gather(working, return_exceptions=True)
        await client.close()
        await rasa.close()
        await asyncio.gather(*(sender.close() for sender in senders.values()))


@pytest.fixture
async def gw(database, fake, tmp_path) -> AsyncIterator[Running]:
    """The gateway with SMS and Telegram configured."""
    async with serving(database, fake, channel_env(fake.base_url), tmp_path) as running:
        yield running


# --- requests as the providers send them -------------------------------------------------


def sms_fields(body: str = "hi saw the poster", sid: str = "SM1", **changes: str) -> dict:
    """The saved incoming SMS, with this body and MessageSid (and other `changes`)."""
    return payload("twilio_sms.json", **{"Body": body, "MessageSid": sid, "SmsSid": sid, **changes})


def twilio_signature(path: str, fields: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, fields)


async def post_twilio(
    gw: Running, fields: dict[str, str], path: str = SMS_PATH, signature: str | None = None
) -> ClientResponse:
    """Post a form as Twilio does, signed for the public URL unless `signature` is given."""
    if signature is None:
        signature = twilio_signature(path, fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    return await gw.client.post(path, data=urlencode(fields), headers=headers)


def telegram_update(name: str, update_id: int | None = None, **message: Any) -> dict:
    """A saved update, with another update_id and message fields if given."""
    update = payload(name)
    if update_id is not None:
        update["update_id"] = update_id
    if message:
        update["message"].update(message)
    return update


async def post_telegram(
    gw: Running,
    update: dict | bytes,
    secret: str | None = WEBHOOK_SECRET,
    content_type: str = "application/json",
) -> ClientResponse:
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return await gw.client.post(TELEGRAM_PATH, data=body, headers=headers)


async def answer(response: ClientResponse) -> tuple[int, str]:
    return response.status, await response.text()


# --- what the database holds -------------------------------------------------------------


def inbox(database: Database) -> list[tuple[str, str, str]]:
    """(channel, text, status) of every inbox message, oldest first."""
    with database.transaction() as s:
        rows = s.scalars(select(InboxMessage).order_by(InboxMessage.id))
        return [(m.channel, m.text, m.status) for m in rows]


def inbound_ids(database: Database) -> list[tuple[str, str]]:
    with database.transaction() as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id))
        return [(m.channel, m.provider_id) for m in rows]


def identities(database: Database) -> list[tuple[str, str]]:
    with database.transaction() as s:
        rows = s.scalars(select(ChannelIdentity).order_by(ChannelIdentity.id))
        return [(i.channel, i.address) for i in rows]


def consent_events(database: Database) -> list[tuple[str, str]]:
    with database.transaction() as s:
        rows = s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        return [(e.kind, e.channel) for e in rows]


def resident(database: Database, channel: str, address: str) -> Resident:
    with database.transaction() as s:
        [found] = s.scalars(
            select(Resident)
            .join(ChannelIdentity)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.address == address)
        ).all()
        return found


def assert_nothing_stored(database: Database) -> None:
    assert (inbox(database), inbound_ids(database), identities(database)) == ([], [], [])


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds (for what happens after the answer)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# --- health ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/webhooks/sms/", "/webhooks/telegram/"])
async def test_health(gw, path):
    response = await gw.client.get(path)
    assert (response.status, await response.json()) == (200, {"status": "ok"})


# --- SMS ---------------------------------------------------------------------------------


async def test_a_signed_sms_is_kept_in_the_inbox_with_rasa_down(gw):
    response = await post_twilio(gw, sms_fields("hi saw the poster", "SM1"))
    assert await answer(response) == (200, EMPTY_TWIML)
    assert response.content_type == "text/xml"
    assert inbox(gw.database) == [("sms", "hi saw the poster", "pending")]
    assert inbound_ids(gw.database) == [("sms", "SM1")]
    assert identities(gw.database) == [("sms", NUMBER)]


async def test_an_mms_photo_is_non_text(gw):
    fields = payload("twilio_mms_photo.json")
    assert (await post_twilio(gw, fields)).status == 200
    assert inbox(gw.database) == [("sms", "/non_text", "pending")]


async def test_a_repeated_message_sid_is_answered_and_kept_once(gw):
    first = await post_twilio(gw, sms_fields("hello", "SM1"))
    again = await post_twilio(gw, sms_fields("hello", "SM1"))
    assert await answer(first) == await answer(again) == (200, EMPTY_TWIML)
    assert inbox(gw.database) == [("sms", "hello", "pending")]
    assert inbound_ids(gw.database) == [("sms", "SM1")]


@pytest.mark.parametrize("path", [SMS_PATH, STATUS_PATH])
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda gw, path, fields: "", id="missing"),
        pytest.param(
            lambda gw, path, fields: twilio_signature(path, fields, "another-token"),
            id="another-token",
        ),
        pytest.param(
            # The URL the request reached, not the public one Twilio signs.
            lambda gw, path, fields: RequestValidator(AUTH_TOKEN).compute_signature(
                str(gw.client.make_url(path)), fields
            ),
            id="signed-for-the-url-it-reached",
        ),
        pytest.param(
            lambda gw, path, fields: twilio_signature(path, {**fields, "Body": "something else"}),
            id="another-body",
        ),
    ],
)
async def test_a_bad_twilio_signature_is_refused_and_nothing_stored(gw, path, signature):
    fields = sms_fields("STOP", "SM1", MessageStatus="delivered")
    response = await post_twilio(gw, fields, path, signature=signature(gw, path, fields))
    assert await answer(response) == (403, "Invalid Twilio signature.")
    assert_nothing_stored(gw.database)
    assert consent_events(gw.database) == []


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        pytest.param(SMS_PATH, b"\xff\xfe", "Expected a form-encoded body.", id="not-utf8"),
        pytest.param(SMS_PATH, b"just some text", "Expected a form-encoded body.", id="not-a-form"),
        pytest.param(
            STATUS_PATH, b"\xff\xfe", "Expected a form-encoded body.", id="status-not-utf8"
        ),
        pytest.param(
            SMS_PATH,
            sms_fields(MessageSid=""),
            "MessageSid and From are required.",
            id="signed-without-message-sid",
        ),
        pytest.param(
            SMS_PATH,
            sms_fields(From="hello"),
            "From is not a phone number.",
            id="signed-from-not-a-number",
        ),
        pytest.param(
            STATUS_PATH,
            payload("twilio_status_delivered.json", MessageStatus=None),
            "MessageSid and MessageStatus are required.",
            id="signed-status-without-status",
        ),
    ],
)
async def test_a_malformed_twilio_request_is_400_with_a_short_reason(gw, path, body, reason):
    if isinstance(body, dict):
        response = await post_twilio(gw, body, path)
    else:
        response = await gw.client.post(
            path, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert await answer(response) == (400, reason)
    assert_nothing_stored(gw.database)


async def test_stop_by_sms_opts_out_at_once_with_rasa_down(gw):
    assert (await post_twilio(gw, sms_fields("STOP", "SM1"))).status == 200
    assert resident(gw.database, "sms", NUMBER).opted_out_at is not None
    assert consent_events(gw.database) == [("opted_out", "sms")]
    assert inbox(gw.database) == [("sms", "/opt_out", "pending")]
    assert (await post_twilio(gw, sms_fields("start", "SM2"))).status == 200
    assert resident(gw.database, "sms", NUMBER).opted_out_at is None
    assert consent_events(gw.database) == [("opted_out", "sms"), ("opted_in", "sms")]


@pytest.mark.parametrize(
    ("typed", "given"),
    [("2", "/deny"), (" 1. ", "/affirm"), ("3", "3"), ("yes", "yes")],
)
async def test_a_typed_number_answers_the_numbered_choice(gw, typed, given):
    with gw.database.transaction() as s:
        offer_choices(s, resident_for(s, "sms", NUMBER).id, "sms", ["/affirm", "/deny"])
    assert (await post_twilio(gw, sms_fields(typed, "SM1"))).status == 200
    assert inbox(gw.database) == [("sms", given, "pending")]


def seed_sent_sms(database: Database, sid: str) -> None:
    with database.transaction() as s:
        someone = resident_for(s, "sms", NUMBER)
        record_sent(s, [Sent(someone.id, "sms", "reply", sid, "sent")], utcnow())


def outbound(database: Database) -> list[tuple[str | None, str, str | None]]:
    with database.transaction() as s:
        rows = s.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
        return [(m.provider_id, m.status, m.error_code) for m in rows]


@pytest.mark.parametrize(
    ("report", "recorded", "opted_out"),
    [
        pytest.param(
            {}, ("SM00000000000000000000000000000001", "delivered", None), False, id="delivered"
        ),
        pytest.param(
            {"MessageStatus": "undelivered", "ErrorCode": "21610"},
            ("SM00000000000000000000000000000001", "undelivered", "21610"),
            True,
            id="21610-opts-out",
        ),
        pytest.param(
            {"MessageStatus": "failed", "ErrorCode": "30007"},
            ("SM00000000000000000000000000000001", "failed", "30007"),
            False,
            id="30007-failed",
        ),
        pytest.param(
            {"MessageSid": "SM99999999999999999999999999999999", "ErrorCode": "21610"},
            ("SM00000000000000000000000000000001", "sent", None),
            False,
            id="not-ours-changes-nothing",
        ),
    ],
)
async def test_a_delivery_report_is_recorded(gw, report, recorded, opted_out):
    sid = "SM00000000000000000000000000000001"
    seed_sent_sms(gw.database, sid)
    fields = payload("twilio_status_delivered.json", **report)
    response = await post_twilio(gw, fields, STATUS_PATH)
    assert await answer(response) == (204, "")
    assert outbound(gw.database) == [recorded]
    assert (resident(gw.database, "sms", NUMBER).opted_out_at is not None) is opted_out
    assert consent_events(gw.database) == ([("opted_out", "sms")] if opted_out else [])


# --- Telegram ----------------------------------------------------------------------------


async def test_a_private_message_is_kept_once_however_often_it_is_delivered(gw):
    update = telegram_update("telegram_message.json")
    first = await post_telegram(gw, update)
    again = await post_telegram(gw, update)
    assert await answer(first) == await answer(again) == (200, "ok")
    assert inbox(gw.database) == [("telegram", "hi saw the poster", "pending")]
    assert inbound_ids(gw.database) == [("telegram", "815000001")]
    assert identities(gw.database) == [("telegram", CHAT)]


@pytest.mark.parametrize(
    ("secret", "content_type", "body", "expected"),
    [
        pytest.param(
            None, "application/json", None, (403, "Invalid secret token."), id="no-secret"
        ),
        pytest.param(
            "", "application/json", None, (403, "Invalid secret token."), id="empty-secret"
        ),
        pytest.param(
            "another-secret-0123456789",
            "application/json",
            None,
            (403, "Invalid secret token."),
            id="wrong-secret",
        ),
        pytest.param(
            WEBHOOK_SECRET,
            "text/plain",
            None,
            (415, "Expected application/json."),
            id="not-json-content-type",
        ),
        pytest.param(
            WEBHOOK_SECRET,
            "application/json",
            b'{"message": {"text": "hi"}}',
            (400, "Expected a Telegram Update as JSON."),
            id="not-an-update",
        ),
        pytest.param(
            WEBHOOK_SECRET,
            "application/json",
            b"{not json",
            (400, "Expected a Telegram Update as JSON."),
            id="not-json",
        ),
        pytest.param(
            WEBHOOK_SECRET,
            "application/json",
            json.dumps(telegram_update("telegram_message.json", text=5)).encode(),
            (400, "Expected a Telegram Update as JSON."),
            id="text-not-a-string",
        ),
    ],
)
async def test_a_refused_telegram_request_stores_nothing(gw, secret, content_type, body, expected):
    update = body or telegram_update("telegram_message.json")
    response = await post_telegram(gw, update, secret=secret, content_type=content_type)
    assert await answer(response) == expected
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize("name", ["telegram_group_message.json", "telegram_edited_message.json"])
async def test_groups_and_edits_are_answered_and_ignored(gw, name):
    assert await answer(await post_telegram(gw, payload(name))) == (200, "ok")
    assert_nothing_stored(gw.database)


async def test_a_photo_is_non_text(gw):
    assert (await post_telegram(gw, payload("telegram_photo.json"))).status == 200
    assert inbox(gw.database) == [("telegram", "/non_text", "pending")]


async def test_start_greets_a_new_chat(gw):
    assert (await post_telegram(gw, payload("telegram_start.json"))).status == 200
    assert inbox(gw.database) == [("telegram", "/greet", "pending")]
    assert resident(gw.database, "telegram", CHAT).opted_out_at is None
    assert consent_events(gw.database) == []


async def test_start_after_stop_opts_back_in(gw):
    stop = telegram_update("telegram_message.json", 815000010, text="/stop")
    assert (await post_telegram(gw, stop)).status == 200
    assert resident(gw.database, "telegram", CHAT).opted_out_at is not None
    assert (
        await post_telegram(gw, telegram_update("telegram_start.json", 815000011))
    ).status == 200
    assert inbox(gw.database) == [
        ("telegram", "/opt_out", "pending"),
        ("telegram", "/opt_in", "pending"),
    ]
    assert resident(gw.database, "telegram", CHAT).opted_out_at is None
    assert consent_events(gw.database) == [("opted_out", "telegram"), ("opted_in", "telegram")]


def acknowledged(fake: FakeProviders) -> list[str]:
    return [c.params["callback_query_id"] for c in fake.calls if c.method == "answerCallbackQuery"]


@pytest.mark.parametrize(
    "data", ["/affirm", '/set_theme{"theme":"housing"}', '/rate{"rating":"4"}']
)
async def test_a_button_press_is_kept_as_its_payload_and_acknowledged(gw, data):
    with gw.database.transaction() as s:
        offer_choices(s, resident_for(s, "telegram", CHAT).id, "telegram", ["/deny", data])
    update = payload("telegram_callback_query.json")
    update["callback_query"]["data"] = data
    assert await answer(await post_telegram(gw, update)) == (200, "ok")
    assert inbox(gw.database) == [("telegram", data, "pending")]
    await eventually(lambda: acknowledged(gw.fake) == ["4382bfdwdsb323b2d9"])


async def test_a_press_on_a_button_not_offered_is_acknowledged_only(gw):
    with gw.database.transaction() as s:
        offer_choices(s, resident_for(s, "telegram", CHAT).id, "telegram", ["/affirm", "/deny"])
    update = payload("telegram_callback_query.json")
    update["callback_query"]["data"] = "/restart"
    assert await answer(await post_telegram(gw, update)) == (200, "ok")
    await eventually(lambda: acknowledged(gw.fake) == ["4382bfdwdsb323b2d9"])
    assert inbox(gw.database) == []
    assert inbound_ids(gw.database) == [("telegram", "815000003")]


async def test_a_press_on_a_foreign_button_is_acknowledged_only(gw):
    update = payload("telegram_callback_query.json")
    update["callback_query"]["data"] = '/set_theme{"theme":"x","consent":"given"}'
    assert await answer(await post_telegram(gw, update)) == (200, "ok")
    await eventually(lambda: acknowledged(gw.fake) == ["4382bfdwdsb323b2d9"])
    assert_nothing_stored(gw.database)


# --- REST --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "The body must be JSON."),
        (b'{"sender": "alice", "message": "  "}', '"message" must be a non-empty string.'),
        (b'{"message": "hi"}', '"sender" must be a string of 1 to 255 characters.'),
    ],
)
async def test_a_bad_rest_body_is_400_with_a_short_reason(gw, body, reason):
    response = await gw.client.post(REST_PATH, data=body, headers=REST_AUTH)
    assert await answer(response) == (400, reason)
    assert_nothing_stored(gw.database)


async def test_rest_with_rasa_down_answers_503_in_time_and_keeps_the_message(gw, monkeypatch):
    monkeypatch.setattr(gateway_module, "REST_WAIT_S", 0.5)
    started = time.monotonic()
    response = await gw.client.post(
        REST_PATH, json={"sender": "alice", "message": "hello"}, headers=REST_AUTH
    )
    assert time.monotonic() - started < 5
    assert response.status == 503
    assert await response.json() == {
        "error": "The assistant is busy; your message is kept and will be processed."
    }
    assert inbox(gw.database) == [("rest", "hello", "pending")]

    def tried() -> bool:
        with gw.database.transaction() as s:
            return s.scalars(select(InboxMessage.error)).one() is not None

    await eventually(tried)  # the worker did try Rasa, and kept the message for later
    with gw.database.transaction() as s:
        kept = s.scalars(select(InboxMessage)).one()
        assert (kept.status, kept.error, kept.attempts >= 1) == (
            "pending",
            "ClientConnectorError",
            True,
        )


# --- limits, configuration, failures ----------------------------------------------------

TOO_LARGE = b"x" * (64 * 1024 + 1)


async def _chunked(data: bytes):
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (SMS_PATH, {"Content-Type": "application/x-www-form-urlencoded"}),
        (STATUS_PATH, {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            TELEGRAM_PATH,
            {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        ),
        (REST_PATH, {"Content-Type": "application/json", **REST_AUTH}),
    ],
)
async def test_a_body_over_64_kib_is_413(gw, path, headers, declared):
    data = TOO_LARGE if declared else _chunked(TOO_LARGE)
    response = await gw.client.post(path, data=data, headers=headers)
    assert await answer(response) == (413, "Request body too large.")
    assert_nothing_stored(gw.database)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_of_exactly_64_kib_is_read(gw, declared):
    fields = sms_fields("x" * (64 * 1024 - len(urlencode(sms_fields("")))), "SM1")
    body = urlencode(fields).encode()
    assert len(body) == 64 * 1024
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(SMS_PATH, fields),
    }
    data = body if declared else _chunked(body)
    response = await gw.client.post(SMS_PATH, data=data, headers=headers)
    assert await answer(response) == (200, EMPTY_TWIML)
    assert len(inbox(gw.database)) == 1


@pytest.mark.parametrize(
    ("unset", "path", "reason"),
    [
        ("TWILIO_AUTH_TOKEN", SMS_PATH, "SMS is not configured here."),
        ("PUBLIC_BASE_URL", SMS_PATH, "SMS is not configured here."),
        ("TWILIO_ACCOUNT_SID", STATUS_PATH, "SMS is not configured here."),
        ("TELEGRAM_WEBHOOK_SECRET", TELEGRAM_PATH, "Telegram is not configured here."),
        ("TELEGRAM_BOT_TOKEN", TELEGRAM_PATH, "Telegram is not configured here."),
    ],
)
async def test_a_channel_not_configured_is_404(database, fake, tmp_path, unset, path, reason):
    env = {k: v for k, v in channel_env(fake.base_url).items() if k != unset}
    async with serving(database, fake, env, tmp_path) as gw:
        if path == TELEGRAM_PATH:
            response = await post_telegram(gw, payload("telegram_message.json"))
        else:
            response = await post_twilio(gw, sms_fields(), path)
        assert await answer(response) == (404, reason)
    assert_nothing_stored(database)


def database_down(database: Database) -> Database:
    """The same kind of database, but unusable: a file that is no database, or nobody there."""
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database).with_name("not-a-database.db")
        path.write_bytes(b"this is not an SQLite database\n" * 64)
        return Database(f"sqlite:///{path}")
    return Database(str(url.set(host="127.0.0.1", port=free_port())))


async def test_with_the_database_down_every_webhook_is_503_without_a_traceback(
    database, fake, tmp_path, caplog
):
    down = database_down(database)
    try:
        async with serving(down, fake, channel_env(fake.base_url), tmp_path) as gw:
            answers = [
                await answer(await post_twilio(gw, sms_fields("hello", "SM1"))),
                await answer(
                    await post_twilio(gw, payload("twilio_status_delivered.json"), STATUS_PATH)
                ),
                await answer(await post_telegram(gw, payload("telegram_message.json"))),
                await answer(
                    await gw.client.post(
                        REST_PATH, json={"sender": "alice", "message": "hi"}, headers=REST_AUTH
                    )
                ),
            ]
    finally:
        down.dispose()
    assert answers == [(503, UNAVAILABLE)] * 4
    assert "A webhook failed" in caplog.text
    assert "Traceback" not in caplog.text
    assert_nothing_stored(database)  # the real database was never touched


async def test_two_first_messages_at_once_make_one_resident(gw):
    first, second = await asyncio.gather(
        post_twilio(gw, sms_fields("hello", "SM1")),
        post_twilio(gw, sms_fields("it's me again", "SM2")),
    )
    assert (first.status, second.status) == (200, 200)
    assert identities(gw.database) == [("sms", NUMBER)]
    with gw.database.transaction() as s:
        assert len(s.scalars(select(Resident)).all()) == 1
    assert sorted(inbox(gw.database)) == [
        ("sms", "hello", "pending"),
        ("sms", "it's me again", "pending"),
    ]


async def test_no_phone_number_chat_id_or_token_reaches_the_logs(gw, caplog):
    caplog.set_level(logging.DEBUG)
    for _ in range(2):  # the repeat is logged, masked
        assert (await post_twilio(gw, sms_fields("hello", "SM1"))).status == 200
        assert (await post_telegram(gw, payload("telegram_callback_query.json"))).status == 200
    await eventually(lambda: len(acknowledged(gw.fake)) == 2)
    assert "**********123" in caplog.text and "****001" in caplog.text
    assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text
    assert CHAT not in caplog.text and BOT_TOKEN not in caplog.text
