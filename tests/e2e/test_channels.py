"""End to end over SMS and Telegram: signed provider webhooks into the real stack, replies out
to the fake providers, views into the database."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from sqlalchemy import create_engine, select, text
from twilio.request_validator import RequestValidator

from bot.models import ConsentEvent, OutboundMessage, Resident, View
from bot.outbound import Outbound, senders_for
from bot.rasa_client import RasaClient
from bot.services.identities import resident_and_address, resident_at
from bot.settings import Settings
from tests.channels.conftest import PUBLIC_BASE_URL
from tests.e2e.conftest import TELEGRAM_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN

pytestmark = pytest.mark.e2e

PAYLOADS = Path(__file__).resolve().parent.parent / "channels" / "payloads"
SMS_PATH = "/webhooks/sms/webhook"
STATUS_PATH = "/webhooks/sms/status"
TELEGRAM_PATH = "/webhooks/telegram/webhook"


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


def new_number() -> str:
    return "+4477009" + str(uuid.uuid4().int)[:5]


def sms(stack, number: str, body: str, sid: str | None = None, **extra) -> requests.Response:
    """Post Twilio's incoming-message webhook, signed for the public URL."""
    fields = {**payload("twilio_sms.json"), "From": number, "Body": body, **extra}
    fields["MessageSid"] = fields["SmsSid"] = sid or f"SM{uuid.uuid4().hex}"
    return post_twilio(stack, SMS_PATH, fields)


def signed_post(url: str, fields: dict[str, str], signature: str | None = None):
    """Post a Twilio webhook to `url`, signed for the public URL of its path."""
    path = urlsplit(url).path
    if signature is None:
        signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
            PUBLIC_BASE_URL + path, fields
        )
    return requests.post(
        url,
        data=urlencode(fields),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        timeout=5,  # the gateway answers at once, whatever Rasa is doing
    )


def post_twilio(stack, path: str, fields: dict[str, str], signature: str | None = None):
    """Post a signed Twilio webhook; returns once the message is processed and answered."""
    reply = signed_post(stack.url(path), fields, signature)
    stack.settle()
    return reply


def post_twilio_raw(url: Callable[[str], str], number: str, body: str) -> tuple[int, float]:
    """Post an SMS from `number` without waiting for Rasa: (status, seconds it took)."""
    fields = {**payload("twilio_sms.json"), "From": number, "Body": body}
    fields["MessageSid"] = fields["SmsSid"] = f"SM{uuid.uuid4().hex}"
    started = time.monotonic()
    reply = signed_post(url(SMS_PATH), fields)
    return reply.status_code, time.monotonic() - started


def post_telegram_raw(
    url: Callable[[str], str], update: dict[str, Any], secret: str = TELEGRAM_WEBHOOK_SECRET
) -> tuple[int, float]:
    """Post a Telegram update without waiting for Rasa: (status, seconds it took)."""
    started = time.monotonic()
    reply = requests.post(
        url(TELEGRAM_PATH),
        data=json.dumps(update),
        headers={"content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        timeout=5,
    )
    return reply.status_code, time.monotonic() - started


def telegram(stack, update: dict[str, Any], secret: str = TELEGRAM_WEBHOOK_SECRET):
    """Post a Telegram update; returns once it is processed and answered."""
    reply = requests.post(
        stack.url(TELEGRAM_PATH),
        data=json.dumps(update),
        headers={"content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        timeout=5,
    )
    stack.settle()
    return reply


def telegram_update(name: str, chat_id: int, **changes) -> dict[str, Any]:
    """A saved update, re-addressed to `chat_id`, with a fresh update_id."""
    update = payload(name)
    update["update_id"] = uuid.uuid4().int % 2_000_000_000
    body = update.get("message") or update.get("edited_message") or update["callback_query"]
    if "callback_query" in update:
        body["message"]["chat"]["id"] = chat_id
        body["from"]["id"] = chat_id
        body["id"] = uuid.uuid4().hex
    elif body["chat"]["type"] == "private":
        body["chat"]["id"] = chat_id
    body.update(changes)
    return update


def views_of(stack, channel: str, address: str) -> list[View]:
    with stack.database.transaction() as s:
        resident = resident_at(s, channel, address)
        if resident is None:
            return []
        return list(s.scalars(select(View).where(View.resident_id == resident.id)))


# SMS ------------------------------------------------------------------------------------


def test_sms_conversation_end_to_end(stack, fake):
    number = new_number()
    assert sms(stack, number, "hi saw the poster").status_code == 200
    intro, consent = fake.sms_to(number)
    assert intro.startswith("Hi, this is Leeds Listens.")
    assert consent.endswith("Reply STOP at any time to stop.\n1 Yes  2 No")

    sms(stack, number, "1")  # the numbered option for "Yes"
    assert fake.sms_to(number)[-1].startswith("Thanks! What's one thing")

    sms(stack, number, "the buses stop at 6 so i cant get home from my shift")
    assert fake.sms_to(number)[-1].startswith("Thanks, noted under Roads & transport.")
    [view] = views_of(stack, "sms", number)
    assert (view.theme_key, view.channel) == ("roads_transport", "sms")
    with stack.database.transaction() as s:
        kinds = s.scalars(
            select(ConsentEvent.kind).where(ConsentEvent.resident_id == view.resident_id)
        ).all()
        assert kinds == ["given"]
        conversation = s.get(Resident, view.resident_id).conversation_id
        assert resident_and_address(s, conversation, "sms")[1] == number

    # Rasa's tracker store knows the resident only by the opaque conversation id.
    engine = create_engine(stack.tracker_url, future=True)
    with engine.connect() as conn:
        senders = conn.execute(text("select distinct sender_id from events")).scalars().all()
        data = " ".join(conn.execute(text("select data from events")).scalars())
    engine.dispose()
    assert conversation in senders and number not in senders and number[1:] not in data


def test_a_replayed_sms_gives_one_view_and_one_reply(stack, fake):
    number = new_number()
    sms(stack, number, "hi")
    sms(stack, number, "yes")
    before = len(fake.sms_to(number))
    sid = f"SM{uuid.uuid4().hex}"
    for _ in range(3):
        assert sms(stack, number, "my bins were not collected again", sid=sid).status_code == 200
    assert len(views_of(stack, "sms", number)) == 1
    assert len(fake.sms_to(number)) == before + 1


@pytest.mark.parametrize(
    "signature",
    ["", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "forged"],
)
def test_sms_without_a_valid_signature_is_refused_and_nothing_happens(stack, fake, signature):
    number = new_number()
    fields = {**payload("twilio_sms.json"), "From": number, "MessageSid": f"SM{uuid.uuid4().hex}"}
    reply = post_twilio(stack, SMS_PATH, fields, signature=signature)
    assert reply.status_code == 403 and "Traceback" not in reply.text
    assert fake.sms_to(number) == []
    with stack.database.transaction() as s:
        assert resident_at(s, "sms", number) is None


def test_a_signed_sms_with_a_changed_field_is_refused(stack, fake):
    number = new_number()
    fields = {**payload("twilio_sms.json"), "From": number, "MessageSid": f"SM{uuid.uuid4().hex}"}
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(
        PUBLIC_BASE_URL + SMS_PATH, fields
    )
    tampered = {**fields, "Body": "STOP"}
    assert post_twilio(stack, SMS_PATH, tampered, signature=signature).status_code == 403
    # Signed for the internal address (no proxy awareness) is refused too.
    internal = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(stack.url(SMS_PATH), fields)
    assert post_twilio(stack, SMS_PATH, fields, signature=internal).status_code == 403


def test_sms_stop_in_any_case_then_silence(stack, fake):
    number = new_number()
    sms(stack, number, "hi")
    sms(stack, number, "yes")
    sms(stack, number, "  stop  ")
    assert fake.sms_to(number)[-1] == (
        "You won't get any more messages from Leeds Listens. Text START if you change your mind."
    )
    count = len(fake.sms_to(number))
    sms(stack, number, "hello?")
    sms(stack, number, "the park is a mess")
    assert len(fake.sms_to(number)) == count
    sms(stack, number, "START")
    assert fake.sms_to(number)[-1].startswith("Welcome back.")


def test_a_reply_lost_on_the_network_is_recorded_and_the_turn_kept(stack, fake):
    """The connection to Twilio drops while replying: the view and the turn stay, the
    failure is recorded, and the conversation goes on from there."""
    number = new_number()
    sms(stack, number, "hi")
    sms(stack, number, "yes")
    fake.twilio_drop.add(number)
    try:
        assert sms(stack, number, "the buses stop at 6 so i cant get home").status_code == 200
    finally:
        fake.twilio_drop.discard(number)
    assert [d["Body"] for d in fake.dropped if d["To"] == number] == [
        "Thanks, noted under Roads & transport. Anything else? (Or reply DONE)"
    ]
    assert [v.theme_key for v in views_of(stack, "sms", number)] == ["roads_transport"]
    with stack.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        records = s.execute(
            select(OutboundMessage.status, OutboundMessage.error_code)
            .where(OutboundMessage.resident_id == resident.id)
            .order_by(OutboundMessage.id)
        ).all()
        assert records[-1] == ("failed", "timeout")
    sms(stack, number, "done")  # Rasa saved the turn: it asks for the area next
    assert "postcode" in fake.sms_to(number)[-1]


def test_a_photo_by_mms_gets_text_only(stack, fake):
    number = new_number()
    sms(stack, number, "hi")
    sms(stack, number, "yes")
    fields = {**payload("twilio_mms_photo.json"), "From": number}
    fields["MessageSid"] = fields["SmsSid"] = f"MM{uuid.uuid4().hex}"
    assert post_twilio(stack, SMS_PATH, fields).status_code == 200
    assert "Sorry, I can only read text messages." in fake.sms_to(number)


def test_delivery_reports_are_recorded_and_21610_opts_out(stack, fake):
    number = new_number()
    sms(stack, number, "hi")
    with stack.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        sids = s.scalars(
            select(OutboundMessage.provider_id).where(OutboundMessage.resident_id == resident.id)
        ).all()
    report = {**payload("twilio_status_delivered.json"), "To": number, "MessageSid": sids[0]}
    assert post_twilio(stack, STATUS_PATH, report).status_code == 204
    failed = {**report, "MessageSid": sids[1], "MessageStatus": "undelivered", "ErrorCode": "21610"}
    assert post_twilio(stack, STATUS_PATH, failed, signature="forged").status_code == 403
    assert post_twilio(stack, STATUS_PATH, failed).status_code == 204
    with stack.database.transaction() as s:
        statuses = dict(
            s.execute(
                select(OutboundMessage.provider_id, OutboundMessage.status).where(
                    OutboundMessage.provider_id.in_(sids)
                )
            ).all()
        )
        assert statuses == {sids[0]: "delivered", sids[1]: "undelivered"}
        assert resident_at(s, "sms", number).opted_out_at is not None


def test_oversized_and_malformed_sms_bodies(stack):
    big = requests.post(
        stack.url(SMS_PATH),
        data=b"Body=" + b"a" * (65 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert big.status_code == 413
    bad = requests.post(
        stack.url(SMS_PATH),
        data=b"\xff\xfe not a form %%%",
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert bad.status_code == 400 and len(bad.text) < 100


# Telegram -------------------------------------------------------------------------------


def new_chat() -> int:
    return 700_000_000 + uuid.uuid4().int % 100_000_000


def test_telegram_conversation_end_to_end(stack, fake):
    chat = new_chat()
    assert telegram(stack, telegram_update("telegram_start.json", chat)).status_code == 200
    intro, consent = fake.telegram_to(chat)
    assert intro["text"].startswith("Hi, this is Leeds Listens.")
    keyboard = json.loads(consent["reply_markup"])["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["/affirm", "/deny"]

    press = telegram_update("telegram_callback_query.json", chat)
    assert telegram(stack, press).status_code == 200
    answered = [c for c in fake.calls if c.method == "answerCallbackQuery"]
    assert answered[-1].params["callback_query_id"] == press["callback_query"]["id"]
    assert fake.telegram_to(chat)[-1]["text"].startswith("Thanks! What's one thing")

    view = telegram_update(
        "telegram_message.json", chat, text="my gp surgery never answers the phone"
    )
    telegram(stack, view)
    assert fake.telegram_to(chat)[-1]["text"].startswith("Thanks, noted under Health & social care")
    assert [v.theme_key for v in views_of(stack, "telegram", str(chat))] == ["health_social_care"]

    # The same update again: no second view, no second reply.
    count = len(fake.telegram_to(chat))
    telegram(stack, view)
    assert len(fake.telegram_to(chat)) == count
    assert len(views_of(stack, "telegram", str(chat))) == 1


def test_telegram_photo_edits_and_groups(stack, fake):
    chat = new_chat()
    telegram(stack, telegram_update("telegram_start.json", chat))
    count = len(fake.telegram_to(chat))
    telegram(stack, telegram_update("telegram_photo.json", chat))
    assert fake.telegram_to(chat)[count]["text"] == "Sorry, I can only read text messages."
    count = len(fake.telegram_to(chat))
    assert telegram(stack, telegram_update("telegram_edited_message.json", chat)).status_code == 200
    assert len(fake.telegram_to(chat)) == count
    group = telegram_update("telegram_group_message.json", chat)
    assert telegram(stack, group).status_code == 200
    group_chat = group["message"]["chat"]["id"]
    assert fake.telegram_to(group_chat) == []
    with stack.database.transaction() as s:
        assert resident_at(s, "telegram", str(group_chat)) is None


def test_telegram_stop_and_start_commands(stack, fake):
    chat = new_chat()
    telegram(stack, telegram_update("telegram_start.json", chat))
    telegram(stack, telegram_update("telegram_callback_query.json", chat))
    telegram(stack, telegram_update("telegram_message.json", chat, text="/stop"))
    assert fake.telegram_to(chat)[-1]["text"].startswith("You won't get any more messages")
    telegram(stack, telegram_update("telegram_start.json", chat))
    assert fake.telegram_to(chat)[-1]["text"].startswith("Welcome back.")


@pytest.mark.parametrize("secret", ["", "wrong-secret-0123456789", TELEGRAM_WEBHOOK_SECRET[:-1]])
def test_telegram_without_the_secret_is_refused(stack, fake, secret):
    chat = new_chat()
    reply = telegram(stack, telegram_update("telegram_message.json", chat), secret=secret)
    assert reply.status_code == 403
    assert fake.telegram_to(chat) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b'{"update_id": "x"}', 400),
        (b'{"update_id": 1, "message": ' + b'"' + b"a" * (65 * 1024) + b'"}', 413),
    ],
)
def test_telegram_bad_bodies(stack, body, status):
    reply = requests.post(
        stack.url(TELEGRAM_PATH),
        data=body,
        headers={
            "content-type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_WEBHOOK_SECRET,
        },
        timeout=30,
    )
    assert reply.status_code == status and "Traceback" not in reply.text


# Every saved payload, table-driven ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "answered"),
    [
        ("telegram_message.json", True),
        ("telegram_start.json", True),
        ("telegram_callback_query.json", False),  # a press on buttons never offered
        ("telegram_photo.json", True),
        ("telegram_edited_message.json", False),
        ("telegram_group_message.json", False),
    ],
)
def test_each_saved_telegram_update(stack, fake, name, answered):
    chat = new_chat()
    update = telegram_update(name, chat)
    assert telegram(stack, update).status_code == 200
    body = update.get("message") or update.get("edited_message") or {}
    target = body.get("chat", {}).get("id", chat)
    assert bool(fake.telegram_to(target)) is answered
    with stack.database.transaction() as s:
        assert (resident_at(s, "telegram", str(target)) is not None) is answered


@pytest.mark.parametrize("name", ["twilio_sms.json", "twilio_mms_photo.json"])
def test_each_saved_twilio_message(stack, fake, name):
    number = new_number()
    fields = {**payload(name), "From": number}
    fields["MessageSid"] = fields["SmsSid"] = f"SM{uuid.uuid4().hex}"
    reply = post_twilio(stack, SMS_PATH, fields)
    assert reply.status_code == 200 and "<Response>" in reply.text
    assert fake.sms_to(number)  # introduced, or told we read text only


# Rasa messaging a resident first (what check-ins will use) ------------------------------


@pytest.mark.parametrize("channel", ["sms", "telegram"])
def test_rasa_can_message_a_resident_first_on_their_channel(stack, fake, channel):
    if channel == "sms":
        address = new_number()
        sms(stack, address, "hi")
        sms(stack, address, "yes")
        sent = lambda: fake.sms_to(address)  # noqa: E731
    else:
        address = str(new_chat())
        telegram(stack, telegram_update("telegram_start.json", int(address)))
        telegram(stack, telegram_update("telegram_callback_query.json", int(address)))
        sent = lambda: [m["text"] for m in fake.telegram_to(address)]  # noqa: E731
    with stack.database.transaction() as s:
        conversation = resident_at(s, channel, address).conversation_id
    before = len(sent())
    delivery = asyncio.run(first_message(stack, conversation, channel))
    assert delivery.ok and delivery.sent == 2
    assert sent()[before:] == [
        "Hi!",
        "What's one thing about your area or local services you'd change?",
    ]
    unauthorised = requests.post(
        stack.rasa("/webhooks/inbox/trigger"),
        json={"conversation_id": conversation, "intent": "greet"},
        timeout=60,
    )
    assert unauthorised.status_code == 403
    assert len(sent()) == before + 2


async def first_message(stack, conversation: str, channel: str):
    """What the scheduler does: Rasa starts the conversation, the channel's Sender sends it."""
    settings = Settings.from_env({**stack.env, "QUIET_HOURS": "off"})  # whatever the hour
    rasa = RasaClient(settings.rasa_url, settings.rasa_api_token)
    outbound = Outbound(stack.database, settings, senders_for(settings))
    try:
        messages = await rasa.trigger(conversation, "greet", {})
        return await outbound.deliver(conversation, channel, messages, proactive=True)
    finally:
        await rasa.close()
        await outbound.close()
