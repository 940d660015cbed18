"""The action server as `engage run` starts it (`python -m actions.server --port 5055`).

rasa-sdk's own server, with these changes: it listens on 127.0.0.1 only, whatever
SANIC_HOST says; it answers only a caller with our token (`Authorization: Bearer
<RASA_API_TOKEN>`, which Rasa's inbox channel sends; only `/health` is open, for the
start-up checks), refusing anyone else (403) before reading their body; Sanic refuses a
body over MAX_BODY_BYTES (413) before reading it, instead of buffering up to its default
of 100 MB; Sanic's own refusals keep their status and a one-line reason, and a failing
action is answered without the request (actions/errors.py; rasa-sdk would echo the
tracker); no browser origin is allowed (no CORS).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import sys

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.exceptions import Forbidden, SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.errors import install_error_handler
from bot import metrics
from bot.settings import get_settings

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Rasa posts the tracker (every event since the session started) and often the domain
# (about 12 KB as JSON). A turn adds about 3.2 KB of events (measured: 14 turns, 45 KB),
# and a session lasts while the resident writes at least once a day: 4 MiB is some 1,300
# turns in one session. A body over it is refused, the turn fails and the inbox tries it
# again later. Strangers never get this far: they are refused before their body is read.
MAX_BODY_BYTES = 4 * 1024 * 1024
OPEN_PATHS = frozenset({"/health", "/healthz", "/metrics"})  # /healthz, /metrics: bot/metrics.py


def build(token: str) -> Sanic:
    """The action server for `token` (a ValueError without one: it would be open)."""
    if not token:
        raise ValueError("RASA_API_TOKEN must be set: the action server answers only Rasa")
    app = install_error_handler(create_app("actions", cors_origins=None))
    # --- operators' metrics (bot/metrics.py): /healthz, /metrics, time per action ---
    metrics.sanic_routes(app, lambda _request: True)
    metrics.time_actions(app)
    # ---
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    expected = f"Bearer {token}".encode()

    # Right after routing: before Sanic reads the body (request middleware runs after).
    @app.signal("http.routing.after")
    async def only_rasa(request: Request, **_: object) -> None:
        if request.path in OPEN_PATHS:
            return
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise Forbidden("unauthorised")

    @app.exception(SanicException)
    async def refused(request: Request, exc: SanicException) -> HTTPResponse:
        return response.json({"error": str(exc)}, status=exc.status_code)

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the actions until stopped."""
    parser = argparse.ArgumentParser(description="The action server, for Rasa only.")
    parser.add_argument("--port", type=int, default=get_settings().action_port)
    args = parser.parse_args(argv)
    utils.configure_colored_logging(logging.INFO)
    utils.update_sanic_log_level()
    app = build(get_settings().rasa_api_token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    logger.info("Action endpoint is up and running on http://%s:%s", HOST, args.port)
    app.run(HOST, args.port, workers=utils.number_of_sanic_workers())
    return 0


if __name__ == "__main__":
    sys.exit(main())
