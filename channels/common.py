"""What our provider channels share: input limits, payload shapes, quiet provider loggers."""

from __future__ import annotations

import logging
import re

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
# A button payload as our domain writes them: /intent or /intent{"entity":"value"}; values
# are theme keys or a check-in rating (/rate{"rating":"4"}).
_PAYLOAD = re.compile(r'/[a-z_]{1,32}(\{"[a-z_]{1,32}":"[a-z0-9_]{1,32}"\})?')


class BadInput(ValueError):
    """A request we cannot use: its message is the short reason given to the caller."""


def is_our_payload(payload: str | None) -> bool:
    """True for a button payload of the shape our domain sends."""
    # fullmatch: the whole payload (`$` would also match before a trailing newline).
    return bool(payload) and bool(_PAYLOAD.fullmatch(payload or ""))
