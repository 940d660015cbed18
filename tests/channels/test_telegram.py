"""Telegram: the secret token, updates (one table row per case, from the saved payloads),
inline keyboards, message parts, and `TelegramSender` against the fake Bot API."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.outbound import RetryLater, Undeliverable
from bot.services.inbound import NON_TEXT, Incoming
from channels.common import BadInput
from channels.telegram import (
    ALLOWED_UPDATES,
    Parsed,
    TelegramSender,
    keyboard,
    make_bot,
    parse,
    verify,
    webhook_url,
)
from tests.channels.conftest import BOT_TOKEN, WEBHOOK_SECRET, payload
from tests.ports import free_port

CHAT = "5550001"  # Sam's private chat in the saved payloads
QUERY_ID = "4382bfdwdsb323b2d9"
BUTTONS = [
    {"title": "Housing", "payload": '/set_theme{"theme":"housing"}'},
    {"title": "Something else", "payload": '/set_theme{"theme":"other"}'},
]
SCALE = [{"title": str(i), "payload": f'/rate{{"rating":"{i}"}}'} for i in range(1, 6)]


# --- verify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "valid"),
    [
        pytest.param(WEBHOOK_SECRET, True, id="ours"),
        pytest.param("", False, id="missing"),
        pytest.param(WEBHOOK_SECRET[:-1], False, id="a-prefix"),
        pytest.param(WEBHOOK_SECRET + "x", False, id="longer"),
        pytest.param(WEBHOOK_SECRET.upper(), False, id="other-case"),
        pytest.param("another-secret-0123456789", False, id="another"),
    ],
)
def test_verify(given, valid):
    assert verify(WEBHOOK_SECRET, given) is valid


# --- parse -------------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], Any]


def update(name: str, *edits: Edit) -> bytes:
    """A saved update as Telegram posts it, after `edits`."""
    data = payload(name)
    for edit in edits:
        edit(data)
    return json.dumps(data).encode()


def text(value: Any) -> Edit:
    return lambda u: u["message"].update(text=value)


def no_text(u: dict[str, Any]) -> None:
    u["message"].pop("text")


def voice(u: dict[str, Any]) -> None:
    u["message"]["voice"] = {"file_id": "AwACAgQ", "file_unique_id": "AgAD", "duration": 3}


def button(value: Any) -> Edit:
    return lambda u: u["callback_query"].update(data=value)


def no_button_data(u: dict[str, Any]) -> None:
    u["callback_query"].pop("data")


def inline_message(u: dict[str, Any]) -> None:
    """A press on a message sent inline (no chat): not one of our conversations."""
    u["callback_query"].pop("message")
    u["callback_query"]["inline_message_id"] = "AAAAAG"


def in_group(u: dict[str, Any]) -> None:
    u["callback_query"]["message"]["chat"] = {"id": -1001234567890, "type": "supergroup"}


def as_channel_post(u: dict[str, Any]) -> None:
    post = u.pop("message")
    post["chat"] = {"id": -1009876543210, "title": "LS6 News", "type": "channel"}
    u["channel_post"] = post


def message(body: str, **kwargs: Any) -> Parsed:
    """What a private text message becomes (update 815000001, from Sam)."""
    return Parsed(815000001, Incoming("telegram", CHAT, body, "815000001", **kwargs))


def pressed(data: str) -> Parsed:
    """What a press on one of our buttons becomes (update 815000003, in Sam's chat)."""
    return Parsed(815000003, Incoming("telegram", CHAT, data, "815000003", data), QUERY_ID)


NOT_FOR_US_PRESS = Parsed(815000003, None, QUERY_ID)  # acknowledged, nothing else
NOT_AN_UPDATE = BadInput("Expected a Telegram Update as JSON.")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Private messages.
        pytest.param(
            update("telegram_message.json"), message("hi saw the poster"), id="saved-message"
        ),
        pytest.param(
            update("telegram_start.json"),
            Parsed(815000002, Incoming("telegram", CHAT, "", "815000002", start=True)),
            id="saved-start-with-parameter",
        ),
        pytest.param(
            update("telegram_message.json", text("/START")),
            message("", start=True),
            id="start-any-case",
        ),
        pytest.param(update("telegram_message.json", text("/stop")), message("stop"), id="stop"),
        pytest.param(
            update("telegram_message.json", text(" /STOP now ")),
            message("stop"),
            id="stop-with-words",
        ),
        pytest.param(update("telegram_message.json", text("/help")), message("help"), id="help"),
        pytest.param(
            update("telegram_message.json", text('/set_theme{"theme":"aliens"}')),
            message('/set_theme{"theme":"aliens"}'),  # typed, never a payload (inbound cleans it)
            id="typed-intent-is-text",
        ),
        pytest.param(update("telegram_message.json", text("   ")), message("   "), id="blank-text"),
        pytest.param(
            update("telegram_photo.json"),
            Parsed(815000004, Incoming("telegram", CHAT, "", "815000004", NON_TEXT)),
            id="saved-photo-with-caption",
        ),
        pytest.param(
            update("telegram_message.json", no_text, voice),
            message("", payload=NON_TEXT),
            id="voice-note",
        ),
        # Button presses.
        pytest.param(
            update("telegram_callback_query.json"),
            pressed("/affirm"),
            id="saved-button-press",
        ),
        pytest.param(
            update("telegram_callback_query.json", button('/set_theme{"theme":"housing"}')),
            pressed('/set_theme{"theme":"housing"}'),
            id="button-with-entity",
        ),
        pytest.param(
            update("telegram_callback_query.json", button('/rate{"rating":"4"}')),
            pressed('/rate{"rating":"4"}'),
            id="button-on-a-scale",
        ),
        pytest.param(
            update("telegram_callback_query.json", button("hello")),
            NOT_FOR_US_PRESS,
            id="foreign-button-acknowledged-only",
        ),
        pytest.param(
            update(
                "telegram_callback_query.json", button('/set_theme{"theme":"x","consent":"given"}')
            ),
            NOT_FOR_US_PRESS,
            id="button-with-two-entities",
        ),
        pytest.param(
            update("telegram_callback_query.json", button("/affirm\n")),
            NOT_FOR_US_PRESS,
            id="button-with-trailing-newline",
        ),
        pytest.param(
            update("telegram_callback_query.json", button("/non_text")),
            NOT_FOR_US_PRESS,
            id="button-claiming-to-be-a-photo",
        ),
        pytest.param(
            update("telegram_callback_query.json", no_button_data),
            NOT_FOR_US_PRESS,
            id="button-without-data",
        ),
        pytest.param(
            update("telegram_callback_query.json", in_group),
            NOT_FOR_US_PRESS,
            id="button-in-a-group",
        ),
        pytest.param(
            update("telegram_callback_query.json", inline_message),
            NOT_FOR_US_PRESS,
            id="button-on-an-inline-message",
        ),
        # Nothing for us.
        pytest.param(
            update("telegram_edited_message.json"), Parsed(815000005, None), id="saved-edit"
        ),
        pytest.param(
            update("telegram_group_message.json"), Parsed(815000006, None), id="saved-group"
        ),
        pytest.param(
            update("telegram_message.json", as_channel_post),
            Parsed(815000001, None),
            id="channel-post",
        ),
        pytest.param(b'{"update_id": 815000009}', Parsed(815000009, None), id="empty-update"),
        # Not an Update.
        pytest.param(b"", NOT_AN_UPDATE, id="empty-body"),
        pytest.param(b"update_id=1", NOT_AN_UPDATE, id="a-form"),
        pytest.param(b"\xff\xfe", NOT_AN_UPDATE, id="not-utf8"),
        pytest.param(b"[]", NOT_AN_UPDATE, id="a-list"),
        pytest.param(b'{"message": {}}', NOT_AN_UPDATE, id="no-update-id"),
        pytest.param(b'{"update_id": "1"}', NOT_AN_UPDATE, id="update-id-a-string"),
        pytest.param(b'{"update_id": 1, "message": "hi"}', NOT_AN_UPDATE, id="message-a-string"),
        pytest.param(
            update("telegram_message.json", lambda u: u["message"].pop("chat")),
            NOT_AN_UPDATE,
            id="message-without-chat",
        ),
        pytest.param(update("telegram_message.json", text(5)), NOT_AN_UPDATE, id="text-a-number"),
        pytest.param(
            update("telegram_callback_query.json", button(5)), NOT_AN_UPDATE, id="data-a-number"
        ),
    ],
)
def test_parse(body, expected):
    if isinstance(expected, BadInput):
        with pytest.raises(BadInput) as refused:
            parse(body)
        assert str(refused.value) == str(expected)
    else:
        assert parse(body) == expected


# --- keyboard and parts ------------------------------------------------------------------


def rows(markup) -> list[list[tuple[str, str]]]:
    return [[(key.text, key.callback_data) for key in row] for row in markup.inline_keyboard]


def test_choices_are_one_per_row():
    assert rows(keyboard(BUTTONS)) == [
        [("Housing", '/set_theme{"theme":"housing"}')],
        [("Something else", '/set_theme{"theme":"other"}')],
    ]


def test_a_scale_is_one_row():
    assert rows(keyboard(SCALE)) == [[(b["title"], b["payload"]) for b in SCALE]]


def test_no_buttons_no_keyboard():
    assert keyboard([]) is None


@pytest.mark.parametrize(
    ("text", "buttons", "expected"),
    [
        pytest.param("Which?", BUTTONS, [("Which?", tuple(BUTTONS))], id="one-part-with-buttons"),
        pytest.param("x" * 4096, BUTTONS, [("x" * 4096, tuple(BUTTONS))], id="4096-one-part"),
        pytest.param(
            "x" * 4097, BUTTONS, [("x" * 4096, ()), ("x", tuple(BUTTONS))], id="4097-two-parts"
        ),
        pytest.param(
            " ".join(["abcd"] * 2000),
            BUTTONS,
            [
                (" ".join(["abcd"] * 819), ()),
                (" ".join(["abcd"] * 819), ()),
                (" ".join(["abcd"] * 362), tuple(BUTTONS)),
            ],
            id="in-order-keyboard-on-the-last",
        ),
        pytest.param("x" * 4097, [], [("x" * 4096, ()), ("x", ())], id="no-buttons"),
    ],
)
def test_parts(fake, channel_settings, text, buttons, expected):
    assert TelegramSender(make_bot(channel_settings)).parts(text, buttons) == expected


# --- set-up helpers ----------------------------------------------------------------------


def test_make_bot_uses_the_configured_api_and_token(fake, channel_settings):
    bot = make_bot(channel_settings)
    assert (bot.token, bot.base_url) == (BOT_TOKEN, f"{fake.base_url}/bot{BOT_TOKEN}")


def test_webhook_url_and_update_types(channel_settings):
    assert webhook_url(channel_settings) == "https://engage.example.org/webhooks/telegram/webhook"
    assert ALLOWED_UPDATES == ["message", "callback_query"]


# --- TelegramSender against the fake Bot API ---------------------------------------------


@pytest.fixture
def sender(channel_settings) -> TelegramSender:
    return TelegramSender(make_bot(channel_settings))


async def test_send_returns_the_message_id_with_the_keyboard(sender, fake):
    message_id = await sender.send(CHAT, "Which is it closest to?", BUTTONS)
    [sent] = fake.telegram_to(CHAT)
    assert (sent["chat_id"], sent["text"]) == (CHAT, "Which is it closest to?")
    keyboard_sent = json.loads(sent["reply_markup"])["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard_sent] == [b["payload"] for b in BUTTONS]
    assert [row[0]["text"] for row in keyboard_sent] == ["Housing", "Something else"]
    assert message_id.isdigit()
    assert (sender.identity, sender.channel, sender.can_reconcile) == (
        "telegram:123456",
        "telegram",
        False,
    )


async def test_send_without_buttons_has_no_keyboard(sender, fake):
    await sender.send(CHAT, "hello")
    [sent] = fake.telegram_to(CHAT)
    assert "reply_markup" not in sent


async def test_429_is_retry_later_after_retry_after_then_goes_through(sender, fake):
    fake.telegram_errors[CHAT] = [429]
    with pytest.raises(RetryLater) as busy:
        await sender.send(CHAT, "hello")
    assert (busy.value.code, busy.value.retry_after, busy.value.in_doubt) == ("429", 1.0, False)
    assert (await sender.send(CHAT, "hello")).isdigit()
    assert len(fake.telegram_to(CHAT)) == 2


@pytest.mark.parametrize("status", [500, 502])
async def test_5xx_is_retry_later_then_goes_through(sender, fake, status):
    fake.telegram_errors[CHAT] = [status]
    with pytest.raises(RetryLater) as failing:
        await sender.send(CHAT, "hello")
    assert (failing.value.code, failing.value.retry_after, failing.value.in_doubt) == (
        "NetworkError",
        None,
        False,
    )
    assert (await sender.send(CHAT, "hello")).isdigit()


async def test_403_is_undeliverable_unreachable(sender, fake):
    fake.telegram_errors[CHAT] = [403]
    with pytest.raises(Undeliverable) as blocked:
        await sender.send(CHAT, "hello")
    assert (blocked.value.code, blocked.value.unreachable, blocked.value.opted_out) == (
        "403",
        True,
        False,
    )


async def test_timing_out_is_retry_later_in_doubt(fake):
    fake.delay_s = 0.5
    bot = Bot(BOT_TOKEN, base_url=f"{fake.base_url}/bot", request=HTTPXRequest(read_timeout=0.1))
    with pytest.raises(RetryLater) as lost:
        await TelegramSender(bot).send(CHAT, "hello")
    assert (lost.value.code, lost.value.in_doubt) == ("timeout", True)


async def test_nobody_listening_is_retry_later_not_in_doubt():
    bot = Bot(BOT_TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot")
    with pytest.raises(RetryLater) as down:
        await TelegramSender(bot).send(CHAT, "hello")
    assert (down.value.code, down.value.in_doubt) == ("NetworkError", False)


async def test_acknowledge_answers_the_button_press(sender, fake):
    await sender.acknowledge(QUERY_ID)
    assert [(c.method, c.params) for c in fake.calls] == [
        ("answerCallbackQuery", {"callback_query_id": QUERY_ID})
    ]


async def test_acknowledge_with_telegram_down_does_not_raise():
    bot = Bot(BOT_TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot")
    await TelegramSender(bot).acknowledge(QUERY_ID)  # the spinner keeps turning; nothing else


async def test_find_sent_cannot_know(sender):
    assert await sender.find_sent(CHAT, "hello", datetime.now(timezone.utc)) is None


async def test_no_token_or_chat_id_reaches_the_logs(sender, fake, caplog):
    caplog.set_level(logging.DEBUG)
    await sender.send(CHAT, "hello")
    fake.telegram_errors[CHAT] = [403]
    with pytest.raises(Undeliverable):
        await sender.send(CHAT, "hello")
    assert len(fake.telegram_to(CHAT)) == 2
    assert BOT_TOKEN not in caplog.text and CHAT not in caplog.text
