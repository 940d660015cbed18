"""Telegram (python-telegram-bot): verify and parse updates, format and send; no business rules.

Inbound (`/webhooks/telegram/webhook`): the `X-Telegram-Bot-Api-Secret-Token` header
must match (constant-time); the body must be an Update. Private chats only; edited
messages, channel posts and groups are ignored; a button press carries its payload (only
if shaped like ours); photos, stickers and voice notes become NON_TEXT; /start, /stop and
/help work. Outbound: `TelegramSender`; buttons become an inline keyboard.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from bot.outbound import Button, Part, RetryLater, Undeliverable
from bot.services.inbound import NON_TEXT, Incoming
from bot.settings import Settings
from bot.sms import split_text
from channels.common import BadInput, is_our_payload

CHANNEL = "telegram"
MAX_MESSAGE_CHARS = 4096
ALLOWED_UPDATES = ["message", "callback_query"]


def make_bot(settings: Settings, connections: int = 1) -> Bot:
    """A Bot for the configured token (and Bot API server, if set)."""
    base = settings.telegram_api_base_url or "https://api.telegram.org"
    request = HTTPXRequest(connection_pool_size=connections) if connections > 1 else None
    return Bot(settings.telegram_bot_token, base_url=f"{base}/bot", request=request)


def webhook_url(settings: Settings) -> str:
    """The public URL Telegram should post updates to."""
    return f"{settings.public_base_url}/webhooks/telegram/webhook"


# --- inbound -----------------------------------------------------------------------------


def verify(secret: str, given: str) -> bool:
    """True if the update carries our webhook secret (compared in constant time).

    `given` may hold any bytes a client sent (aiohttp keeps undecodable ones as surrogates).
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    )


@dataclass(frozen=True)
class Parsed:
    """What an update holds for us."""

    update_id: int
    incoming: Incoming | None  # None: nothing for us (a group, an edit, a foreign button)
    callback_query_id: str | None = None  # a button press to acknowledge


def parse(body: bytes) -> Parsed:
    """An Update's message or button press; BadInput if the body is not an Update."""
    try:
        data = json.loads(body or b"")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not an update")
        # de_json checks no types: a number where a text belongs fails in _parsed, and is
        # bad input too (not a failure of ours, which would have Telegram retry it).
        return _parsed(Update.de_json(data, None))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        # RecursionError: JSON nested thousands deep (a few KiB do it).
        raise BadInput("Expected a Telegram Update as JSON.") from None


def _parsed(update: Update) -> Parsed:
    """What a decoded Update holds for us."""
    provider_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message else None
        # NON_TEXT is ours to set (a photo...), never a button's; a button is checked again
        # against the options offered when it is accepted (bot/services/inbound.py).
        ours = is_our_payload(query.data) and query.data != NON_TEXT
        if chat is None or chat.type != "private" or not ours:
            return Parsed(update.update_id, None, query.id)
        incoming = Incoming(
            CHANNEL, str(chat.id), query.data or "", provider_id, payload=query.data
        )
        return Parsed(update.update_id, incoming, query.id)
    message = update.message
    if message is None or message.chat.type != "private":
        return Parsed(update.update_id, None)  # edited messages, channel posts, groups
    chat_id = str(message.chat.id)
    if message.text is None:
        return Parsed(update.update_id, Incoming(CHANNEL, chat_id, "", provider_id, NON_TEXT))
    words = message.text.strip().split(maxsplit=1)
    command = words[0].lower() if words else ""
    if command == "/start":
        return Parsed(update.update_id, Incoming(CHANNEL, chat_id, "", provider_id, start=True))
    text = command[1:] if command in ("/stop", "/help") else message.text
    return Parsed(update.update_id, Incoming(CHANNEL, chat_id, text, provider_id))


# --- outbound ----------------------------------------------------------------------------


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Inline buttons: a 1-5 scale on one row, other choices one per row."""
    if not buttons:
        return None
    keys = [InlineKeyboardButton(b["title"], callback_data=b["payload"]) for b in buttons]
    scale = all(str(b.get("title", "")).isdigit() for b in buttons)
    return InlineKeyboardMarkup([keys] if scale else [[key] for key in keys])


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Sends to residents' private chats: replies, check-ins and updates alike."""

    channel = CHANNEL
    # The Bot API has no way to list sent messages (and no idempotency key): a send whose
    # answer was lost cannot be checked, only sent again.
    can_reconcile = False

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.identity = f"telegram:{bot.token.split(':', 1)[0]}"

    def parts(self, text: str, buttons: Sequence[Button]) -> list[Part]:
        """Messages of at most 4,096 characters, in order; the buttons go with the last."""
        pieces = split_text(text, MAX_MESSAGE_CHARS)
        return [(p, tuple(buttons) if i == len(pieces) - 1 else ()) for i, p in enumerate(pieces)]

    async def send(
        self,
        address: str,
        text: str,
        buttons: Sequence[Button] = (),
        valid_for: float | None = None,
    ) -> str:
        """Send one message; returns its message_id.

        The Bot API has no validity period (it delivers at once or refuses): `valid_for` is
        accepted for the Sender interface, and the caller checks it before sending.
        """
        try:
            sent = await self.bot.send_message(
                chat_id=int(address), text=text, reply_markup=keyboard(buttons)
            )
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

    async def acknowledge(self, callback_query_id: str) -> None:
        """Answer a button press, so the resident's app stops its spinner (best effort)."""
        # The press is already in the inbox: a failure only leaves the spinner turning.
        with contextlib.suppress(TelegramError):
            await self.bot.answer_callback_query(callback_query_id)

    async def close(self) -> None:
        """Nothing to release: the Bot keeps its connection pool for its lifetime."""
