"""What the action server says, and logs, when an action raises: no resident's data.

rasa-sdk's own handler answers an exception with its text and the whole request (the
tracker: every message of the session, slots, the sender id) as a 500; Rasa then logs that
body as the reason the action failed, and rasa-sdk logs the exception with its message,
which may quote a resident's words or a phone number (a database error, a KeyError).

`install_error_handler(app)` replaces it: the answer is a short JSON error naming the
action, and the log line at ERROR names the action, the exception's type and where it
was raised (the stack's code lines), never its message or the request. Sanic's own
refusals (a SanicException: 400, 403, 404, 413...) keep their status, with a one-line
reason of Sanic's and nothing from the request.
"""

from __future__ import annotations

import json
import logging
import traceback

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

FAILED = "The action failed."
MAX_NAME = 100  # an action's name is short; anything longer is not one of ours


def action_name(request: Request) -> str | None:
    """The `next_action` the request asked for, if it is a plain JSON body that says one."""
    try:
        name = json.loads(request.body or b"{}").get("next_action")
    except (ValueError, AttributeError, TypeError):  # compressed, not JSON, not an object
        return None
    return name if isinstance(name, str) and len(name) <= MAX_NAME else None


async def answer_error(request: Request, exc: Exception) -> HTTPResponse:
    """A short error: the action's name at most, never the tracker or the exception's text."""
    if isinstance(exc, SanicException):  # Sanic refused the request itself
        status = exc.status_code or 500
        return response.json({"error": f"HTTP {status}"}, status=status)
    name = action_name(request)
    where = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("Action %s raised %s at:\n%s", name or "?", type(exc).__name__, where)
    return response.json({"error": FAILED, "action_name": name}, status=500)


def install_error_handler(app: Sanic) -> Sanic:
    """Answer every exception with `answer_error` instead of rasa-sdk's handler.

    A handler for a narrower class (e.g. the server's own for SanicException) still wins
    for that class.
    """
    app.error_handler.add(Exception, answer_error)
    return app
