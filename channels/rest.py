"""The REST channel (`/webhooks/rest/webhook`), hardened: for the web "try it" and `engage chat`.

Unlike Rasa's own, it validates the body, refuses to let a client claim another channel
or inject metadata, and cuts full postcodes down to their district before anything,
the tracker store included, sees the text.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from bot.postcodes import redact_full_postcodes

MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 255


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception as exc:  # sanic raises its own error types for bad JSON
        raise InvalidUsage("The body must be JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidUsage('The body must be a JSON object: {"sender": ..., "message": ...}.')
    return body


class RestChannel(RestInput):
    """Rasa's REST input channel with input validation and postcode redaction."""

    @classmethod
    def name(cls) -> str:
        """Keeps Rasa's URL, /webhooks/rest/webhook."""
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        sender = _json_body(req).get("sender")
        if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS:
            raise InvalidUsage(f'"sender" must be a string of 1 to {MAX_SENDER_CHARS} characters.')
        return sender

    def _extract_message(self, req: Request) -> str | None:
        message = _json_body(req).get("message")
        if not isinstance(message, str) or not message.strip():
            raise InvalidUsage('"message" must be a non-empty string.')
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidUsage(f'"message" must be at most {MAX_MESSAGE_CHARS} characters.')
        return redact_full_postcodes(message)

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        """Clients may not set message metadata."""
        return None
