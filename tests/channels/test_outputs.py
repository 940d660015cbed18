"""Sending through the real twilio and python-telegram-bot clients, to the fake providers."""

from __future__ import annotations

import json
import logging
import time

from sqlalchemy import select

from bot.models import ChannelIdentity, OutboundMessage
from bot.services.consent import record_consent
from bot.services.identities import conversation_for
from bot.services.residents import find_resident
from channels.telegram import TelegramOutput, make_bot
from channels.twilio_sms import TwilioSmsOutput, twilio_client

NUMBER = "+447700900123"
CHAT = "424242"
BUTTONS = [
    {"title": "Housing", "payload": '/set_theme{"theme":"housing"}'},
    {"title": "Something else", "payload": '/set_theme{"theme":"other"}'},
]


def _resident(database, channel, address) -> str:
    with database.transaction() as s:
        conversation_id = conversation_for(s, channel, address)
        record_consent(
            s, find_resident(s, conversation_id), given=True, wording="w", channel=channel
        )
    return conversation_id


def _outbound(database) -> list[OutboundMessage]:
    with database.transaction() as s:
        return list(s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


async def test_sms_buttons_become_numbered_options(database, fake, channel_settings):
    conversation = _resident(database, "sms", NUMBER)
    out = TwilioSmsOutput(channel_settings, twilio_client(channel_settings), database)
    await out.send_text_with_buttons(conversation, "Which is it closest to?", BUTTONS)
    [call] = [c for c in fake.calls if c.provider == "twilio"]
    assert call.params["Body"] == "Which is it closest to?\n1 Housing  2 Something else"
    assert call.params["From"] == "+447700900000" and call.params["To"] == NUMBER
    assert call.params["StatusCallback"] == "https://engage.example.org/webhooks/sms/status"
    [sent] = _outbound(database)
    assert (sent.status, sent.provider_id.startswith("SM")) == ("sent", True)


async def test_long_sms_is_split_in_order_at_word_boundaries(database, fake, channel_settings):
    conversation = _resident(database, "sms", NUMBER)
    out = TwilioSmsOutput(channel_settings, twilio_client(channel_settings), database)
    text = " ".join(f"word{i}" for i in range(60))
    await out.send_text_message(conversation, text)
    parts = fake.sms_to(NUMBER)
    assert len(parts) == 3 and all(len(p) <= 160 for p in parts)
    assert " ".join(parts) == text


async def test_twilio_21610_opts_the_resident_out(database, fake, channel_settings):
    conversation = _resident(database, "sms", NUMBER)
    fake.twilio_errors[NUMBER] = 21610
    out = TwilioSmsOutput(channel_settings, twilio_client(channel_settings), database)
    await out.send_text_message(conversation, "x " * 200)  # several parts: stops at the first
    assert len([c for c in fake.calls if c.provider == "twilio"]) == 1
    [failed] = _outbound(database)
    assert (failed.status, failed.error_code) == ("failed", "21610")
    with database.transaction() as s:
        assert find_resident(s, conversation).opted_out_at is not None


async def test_telegram_buttons_become_an_inline_keyboard(database, fake, channel_settings):
    conversation = _resident(database, "telegram", CHAT)
    out = TelegramOutput(make_bot(channel_settings), database)
    await out.send_text_with_buttons(conversation, "Which is it closest to?", BUTTONS)
    [sent] = fake.telegram_to(CHAT)
    keyboard = json.loads(sent["reply_markup"])["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == [b["payload"] for b in BUTTONS]
    assert [row[0]["text"] for row in keyboard] == ["Housing", "Something else"]


async def test_telegram_429_waits_retry_after_then_sends(database, fake, channel_settings):
    conversation = _resident(database, "telegram", CHAT)
    fake.telegram_errors[CHAT] = [429]
    out = TelegramOutput(make_bot(channel_settings), database)
    started = time.monotonic()
    await out.send_text_message(conversation, "hello")
    calls = fake.telegram_to(CHAT)
    assert len(calls) == 2 and time.monotonic() - started >= 1.0
    assert [m.status for m in _outbound(database)] == ["sent"]


async def test_telegram_403_marks_the_chat_unreachable(database, fake, channel_settings):
    conversation = _resident(database, "telegram", CHAT)
    fake.telegram_errors[CHAT] = [403]
    out = TelegramOutput(make_bot(channel_settings), database)
    await out.send_text_message(conversation, "hello")
    with database.transaction() as s:
        identity = s.scalars(select(ChannelIdentity)).one()
        assert identity.unreachable_at is not None
    assert [(m.status, m.error_code) for m in _outbound(database)] == [("failed", "403")]


async def test_telegram_long_messages_are_split(database, fake, channel_settings):
    conversation = _resident(database, "telegram", CHAT)
    out = TelegramOutput(make_bot(channel_settings), database)
    await out.send_text_message(conversation, "abc " * 2000)
    parts = [c["text"] for c in fake.telegram_to(CHAT)]
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)


async def test_no_phone_number_or_token_reaches_the_logs(database, fake, channel_settings, caplog):
    caplog.set_level(logging.DEBUG)
    sms_conversation = _resident(database, "sms", NUMBER)
    tg_conversation = _resident(database, "telegram", CHAT)
    fake.twilio_errors[NUMBER] = 30007
    fake.telegram_errors[CHAT] = [403]
    await TwilioSmsOutput(
        channel_settings, twilio_client(channel_settings), database
    ).send_text_message(sms_conversation, "hello")
    await TelegramOutput(make_bot(channel_settings), database).send_text_message(
        tg_conversation, "hello"
    )
    assert "**********123" in caplog.text  # we did log the failure, masked
    assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text
    assert channel_settings.telegram_bot_token not in caplog.text
    assert CHAT not in caplog.text
