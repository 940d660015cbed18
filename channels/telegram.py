"""Telegram through python-telegram-bot: a secret-checked webhook in, `telegram.Bot` out.

Inbound (`/webhooks/telegram/webhook`): 413 over 64 KiB, 403 unless the
`X-Telegram-Bot-Api-Secret-Token` header matches (constant-time), 400 for a body that is
not an Update, repeated `update_id`s dropped. Private chats only; edited messages are
ignored; button presses are answered (`answerCallbackQuery`) and passed on as their
payload; photos, stickers and voice notes get "text only"; /start, /stop and /help work.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from bot.db import Database
from bot.models import utcnow
from bot.outbound import RetryLater, Undeliverable
from bot.phone import mask
from bot.services.checkins import resident_wrote
from bot.services.delivery import first_delivery, record_outbound
from bot.services.identities import address_for, mark_unreachable, resident_at, resident_for
from bot.services.residents import find_resident
from bot.settings import Settings, get_settings
from bot.sms import split_text
from channels.common import (
    NON_TEXT,
    DatabaseUser,
    bad_request,
    is_our_payload,
    text_for_rasa,
    too_large,
)

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_MESSAGE_CHARS = 4096
SEND_ATTEMPTS = 3
MAX_RETRY_WAIT_S = 60
ALLOWED_UPDATES = ["message", "callback_query"]


def make_bot(settings: Settings, connections: int = 1) -> Bot:
    """A Bot for the configured token (and Bot API server, if set)."""
    base = settings.telegram_api_base_url or "https://api.telegram.org"
    request = HTTPXRequest(connection_pool_size=connections) if connections > 1 else None
    return Bot(settings.telegram_bot_token, base_url=f"{base}/bot", request=request)


def webhook_url(settings: Settings) -> str:
    """The public URL Telegram should post updates to."""
    return f"{settings.public_base_url}/webhooks/telegram/webhook"


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends notifications to residents' private chats, one message each."""

    channel = CHANNEL
    # The Bot API has no way to list sent messages (and no idempotency key): a send whose
    # answer was lost cannot be checked, only sent again.
    can_reconcile = False

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, address: str, text: str) -> str:
        """Send one message; returns its message_id."""
        try:
            sent = await self.bot.send_message(chat_id=int(address), text=text)
        except RetryAfter as exc:
            raise RetryLater("429", retry_after=_seconds(exc.retry_after)) from None
        except Forbidden:
            raise Undeliverable("403", unreachable=True) from None
        except BadRequest:
            raise Undeliverable("400") from None  # e.g. the chat no longer exists
        except TimedOut:
            raise RetryLater("timeout", in_doubt=True) from None
        except TelegramError as exc:
            raise RetryLater(type(exc).__name__[:16]) from None
        return str(sent.message_id)

    async def find_sent(self, address: str, text: str, since: datetime) -> str | None:
        """Always None: Telegram cannot say what a bot sent."""
        return None

    async def close(self) -> None:
        """Nothing to release: the Bot keeps its connection pool for its lifetime."""


class TelegramOutput(DatabaseUser, OutputChannel):
    """Sends to residents' private chats; buttons become an inline keyboard."""

    @classmethod
    def name(cls) -> str:
        """The channel's name (Rasa's `output_channel` for trigger_intent)."""
        return CHANNEL

    def __init__(self, bot: Bot, database: Database | None = None) -> None:
        super().__init__(database)
        self.bot = bot

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text, split if over Telegram's 4,096 characters."""
        await self._send(recipient_id, text, None)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send a question with one inline button per row."""
        keys = [InlineKeyboardButton(b["title"], callback_data=b["payload"]) for b in buttons]
        # A 1-5 scale reads best on one row; other choices one per row.
        scale = all(str(b.get("title", "")).isdigit() for b in buttons)
        keyboard = InlineKeyboardMarkup([keys] if scale else [[key] for key in keys])
        await self._send(recipient_id, text, keyboard)

    async def _send(
        self, conversation_id: str, text: str, keyboard: InlineKeyboardMarkup | None
    ) -> None:
        chat_id = await self.in_transaction(lambda s: address_for(s, conversation_id, CHANNEL))
        if chat_id is None:
            logger.warning("No Telegram chat for a conversation; message not sent.")
            return
        parts = split_text(text, MAX_MESSAGE_CHARS)
        for number, part in enumerate(parts, start=1):
            markup = keyboard if number == len(parts) else None
            if not await self._send_part(conversation_id, chat_id, part, markup):
                return

    async def _send_part(
        self, conversation_id: str, chat_id: str, text: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        """Send one message, honouring 429 retry_after; False if the chat is unreachable."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                sent = await self.bot.send_message(
                    chat_id=int(chat_id), text=text, reply_markup=markup
                )
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                if attempt == SEND_ATTEMPTS or wait > MAX_RETRY_WAIT_S:
                    await self._record(conversation_id, None, "failed", "429")
                    return False
                await asyncio.sleep(wait)
            except Forbidden:
                logger.info("Telegram chat %s blocked the bot or is gone.", mask(chat_id))
                await self.in_transaction(lambda s: mark_unreachable(s, CHANNEL, chat_id))
                await self._record(conversation_id, None, "failed", "403")
                return False
            except TelegramError as exc:
                logger.warning("Telegram send to %s failed: %s", mask(chat_id), type(exc).__name__)
                await self._record(conversation_id, None, "failed", type(exc).__name__[:16])
                return False
            else:
                await self._record(conversation_id, str(sent.message_id), "sent", None)
                return True
        return False

    async def _record(
        self, conversation_id: str, provider_id: str | None, status: str, error: str | None
    ) -> None:
        await self.in_transaction(
            lambda s: record_outbound(
                s,
                resident=find_resident(s, conversation_id),
                channel=CHANNEL,
                provider_id=provider_id,
                status=status,
                error_code=error,
            )
        )


class TelegramInput(DatabaseUser, InputChannel):
    """Telegram's webhook."""

    @classmethod
    def name(cls) -> str:
        """URL prefix /webhooks/telegram/."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        """Build from credentials.yml (secrets from the environment) and the settings."""
        credentials = credentials or {}
        settings = get_settings()
        token = credentials.get("bot_token") or settings.telegram_bot_token
        return cls(
            settings=replace(settings, telegram_bot_token=token),
            webhook_secret=credentials.get("webhook_secret") or settings.telegram_webhook_secret,
        )

    def __init__(
        self,
        settings: Settings,
        webhook_secret: str,
        database: Database | None = None,
        bot: Bot | None = None,
    ) -> None:
        super().__init__(database)
        if not webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be set: every update is checked")
        self.settings = settings
        self.secret = webhook_secret.encode()
        self._bot = bot

    @property
    def bot(self) -> Bot:
        """The Bot API client, made on first use."""
        if self._bot is None:
            self._bot = make_bot(self.settings)
        return self._bot

    def get_output_channel(self) -> OutputChannel:
        """The Telegram sender, so Rasa can also message residents first."""
        return TelegramOutput(self.bot, self._database)

    def _authentic(self, request: Request) -> bool:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        return hmac.compare_digest(given, self.secret)

    async def _text_of(self, update: Update) -> tuple[str | None, str]:
        """The private chat id and what to pass to Rasa, or (None, "") to ignore."""
        query = update.callback_query
        if query is not None:
            chat = query.message.chat if query.message else None
            await self.bot.answer_callback_query(query.id)
            if chat is None or chat.type != "private" or not is_our_payload(query.data):
                return None, ""
            return str(chat.id), query.data or ""
        message = update.message
        if message is None or message.chat.type != "private":
            return None, ""  # edited messages, channel posts, groups: not for us
        chat_id = str(message.chat.id)
        if message.text is None:
            return chat_id, NON_TEXT
        command = message.text.strip().split(maxsplit=1)[0].lower() if message.text.strip() else ""
        if command == "/start":
            return chat_id, await self._start_intent(chat_id)
        if command in ("/stop", "/help"):
            return chat_id, text_for_rasa(command[1:])
        return chat_id, text_for_rasa(message.text)

    async def _start_intent(self, chat_id: str) -> str:
        """/start greets a newcomer (the consent flow) and re-subscribes after /stop."""

        def _opted_out(session) -> bool:  # type: ignore[no-untyped-def]
            resident = resident_at(session, CHANNEL, chat_id)
            return resident is not None and resident.opted_out_at is not None

        return "/opt_in" if await self.in_transaction(_opted_out) else "/greet"

    @staticmethod
    def _wrote(session: Session, chat_id: str) -> str:
        """The chat's conversation id; the message counts as an answer to any check-in."""
        resident = resident_for(session, CHANNEL, chat_id)
        resident_wrote(session, resident, utcnow())
        return resident.conversation_id

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook route."""
        telegram = Blueprint("telegram_webhook", __name__)

        @telegram.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @telegram.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            rejected = too_large(request)
            if rejected is not None:
                return rejected
            if not self._authentic(request):
                logger.warning("Rejected a Telegram update with a missing or wrong secret token.")
                return response.text("Invalid secret token.", status=403)
            try:
                data = json.loads(request.body or b"")
                if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                    raise ValueError("not an update")
                update = Update.de_json(data, self.bot)
            except (ValueError, TypeError, KeyError, AttributeError):
                return bad_request("Expected a Telegram Update as JSON.")
            accepted = await self.in_transaction(
                lambda s: first_delivery(s, CHANNEL, str(update.update_id))
            )
            if not accepted:
                return response.text("ok")
            chat_id, text = await self._text_of(update)
            if chat_id is None or not text:
                return response.text("ok")
            conversation_id = await self.in_transaction(lambda s: self._wrote(s, chat_id))
            await on_new_message(
                UserMessage(text, self.get_output_channel(), conversation_id, input_channel=CHANNEL)
            )
            return response.text("ok")

        return telegram
