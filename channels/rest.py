"""The REST channel (`/webhooks/rest/webhook`), for the web "try it" and `engage chat`.

Rasa's REST format: `{"sender": ..., "message": ...}` in, the bot's messages out. The
body is validated; clients can neither claim another channel nor set metadata. Who may
post (a Bearer token once the gateway is public) is the gateway's business (bot/gateway.py);
a typed `/intent{...}` is plain text here as on every channel (bot/services/inbound.py).
"""

from __future__ import annotations

import json

from bot.services.inbound import Incoming
from channels.common import BadInput

CHANNEL = "rest"
MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 255


def parse(body: bytes) -> Incoming:
    """A REST message as an `Incoming`; BadInput with the reason if the body is not one."""
    try:
        data = json.loads(body or b"")
    except (ValueError, RecursionError):  # RecursionError: nested thousands deep
        raise BadInput("The body must be JSON.") from None
    if not isinstance(data, dict):
        raise BadInput('The body must be a JSON object: {"sender": ..., "message": ...}.')
    sender, message = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_CHARS:
        raise BadInput(f'"sender" must be a string of 1 to {MAX_SENDER_CHARS} characters.')
    if not sender.isprintable():
        raise BadInput('"sender" must not contain control characters.')
    if not isinstance(message, str) or not message.strip():
        raise BadInput('"message" must be a non-empty string.')
    if len(message) > MAX_MESSAGE_CHARS:
        raise BadInput(f'"message" must be at most {MAX_MESSAGE_CHARS} characters.')
    return Incoming(CHANNEL, sender, message)
