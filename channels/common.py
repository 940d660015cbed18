"""What our provider channels share: size limits, safe text for Rasa, and the database."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.db import Database, default_database, run_in_transaction
from bot.keywords import keyword_intent
from bot.postcodes import redact_full_postcodes

logger = logging.getLogger(__name__)
T = TypeVar("T")

# These libraries log whole requests at INFO/DEBUG: Twilio's include phone numbers and
# message bodies, httpx's URLs include the Telegram bot token. Keep them to warnings.
for _noisy in (
    "twilio.http_client",
    "twilio.async_http_client",
    "httpx",
    "httpcore",
    "telegram.ext",
    "telegram.Bot",
):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 2000
NON_TEXT = "/non_text"  # photos, stickers, voice...: the dialogue says it reads text only
# A button payload as our domain writes them: /intent or /intent{"entity":"value"}.
_PAYLOAD = re.compile(r'^/[a-z_]{1,32}(\{"[a-z_]{1,32}":"[a-z_]{1,32}"\})?$')


def too_large(request: Request) -> HTTPResponse | None:
    """413 for bodies over 64 KiB, before anything parses them."""
    declared = request.headers.get("content-length", "0")
    size = int(declared) if declared.isdigit() else 0
    if max(size, len(request.body or b"")) > MAX_BODY_BYTES:
        return response.text("Request body too large.", status=413)
    return None


def bad_request(reason: str) -> HTTPResponse:
    """400 with a short reason, never a stack trace."""
    return response.text(reason, status=400)


def text_for_rasa(text: str) -> str:
    """A resident's text as Rasa should see it.

    Carrier keywords become their intent (handled before NLU, in any case); anything else
    that starts with "/" loses it, so nobody can type `/intent{"slot": ...}` at Rasa; full
    postcodes are cut to their district.
    """
    text = text.strip()[:MAX_TEXT_CHARS]
    intent = keyword_intent(text)
    if intent:
        return f"/{intent}"
    return redact_full_postcodes(text.lstrip("/").strip())


def is_our_payload(payload: str | None) -> bool:
    """True for a button payload of the shape our domain sends."""
    return bool(payload) and bool(_PAYLOAD.match(payload or ""))


class DatabaseUser:
    """Gives a channel lazy access to the database, off the event loop."""

    def __init__(self, database: Database | None = None) -> None:
        self._database = database

    @property
    def database(self) -> Database:
        """The database handed in, or the process's."""
        return self._database or default_database()

    async def in_transaction(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in one transaction in a worker thread."""
        return await run_in_transaction(self.database, work)
