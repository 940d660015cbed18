"""`engage gateway`: the public webhooks, the inbox worker, and nothing else.

Every provider posts here (Twilio, Telegram; and the REST channel for the terminal chat
and the web "try it": with REST_API_TOKEN set it needs `Authorization: Bearer
<REST_API_TOKEN>`, and once PUBLIC_BASE_URL is set it is off without one). A body over
MAX_BODY_BYTES is refused (413) before it is read, by its Content-Length or, chunked, as
it arrives. A request is verified and parsed by its channel module, accepted into the
durable inbox by `bot.services.inbound` in one transaction (where the inbox worker claims
it, when it is idle), and only then answered 200: Rasa and the action server may be
down, slow or restarting, and the webhook still answers at once and loses nothing. The
inbox worker running beside it hands the messages to Rasa (on its private port) and
sends the replies.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import metrics
from bot.db import Database, default_database, run_in_transaction
from bot.erasure import Eraser
from bot.inbox_worker import InboxWorker
from bot.models import Purpose
from bot.outbound import Outbound, Sender, senders_for
from bot.phone import mask
from bot.rasa_pool import rasa_for
from bot.services.delivery import record_status
from bot.services.inbound import Accepted, Incoming
from bot.settings import Settings
from channels import rest, telegram, twilio_sms
from channels.common import MAX_BODY_BYTES, BadInput

logger = logging.getLogger(__name__)

REST_WAIT_S = 60.0  # how long a REST caller waits for the bot's replies
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _text(body: str, status: int) -> web.Response:
    return web.Response(text=body, status=status)


async def _body(request: web.Request) -> bytes:
    """The request body, refused past MAX_BODY_BYTES before it is read whole."""
    declared = request.content_length or 0
    if declared > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, declared)
    return await request.read()


def _same(given: str, expected: str) -> bool:
    """A header equal to `expected`, compared in constant time (any bytes the client sent)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


@web.middleware
async def short_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Short, plain answers for bad input and failures: never a stack trace.

    A declared body over MAX_BODY_BYTES is refused here, before any handler runs.
    """
    try:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, request.content_length or 0)
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return _text("Request body too large.", 413)
    except BadInput as exc:
        return _text(str(exc), 400)
    except web.HTTPException:
        raise
    except Exception as exc:  # the database is down, or a bug: the provider tries again
        logger.error("A webhook failed: %s", type(exc).__name__)
        return _text("Temporarily unavailable; please try again.", 503)


class Gateway:
    """The webhook routes, wired to one database, one inbox worker and the senders."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        worker: InboxWorker,
        senders: dict[str, Sender],
    ) -> None:
        self.settings = settings
        self.database = database
        self.worker = worker
        self.senders = senders
        self._background: set[asyncio.Task] = set()

    async def _accept(self, incoming: Incoming) -> Accepted:
        accepted = await self.worker.accept(incoming)
        if accepted.duplicate:
            logger.info(
                "Dropped a repeated %s message from %s.", incoming.channel, mask(incoming.address)
            )
        elif accepted.inbox_id is not None:
            metrics.MESSAGES_IN.labels(incoming.channel).inc()
        return accepted

    async def _twilio_form(self, request: web.Request) -> dict[str, str] | web.Response:
        """The form of a genuine Twilio request, or the response refusing it."""
        fields = twilio_sms.form_fields(await _body(request))
        url = twilio_sms.public_url(self.settings, request.path, request.query_string)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not twilio_sms.verify(self.settings.twilio_auth_token, url, fields, signature):
            logger.warning("Rejected an SMS webhook with a missing or wrong Twilio signature.")
            return _text("Invalid Twilio signature.", 403)
        return fields

    async def sms(self, request: web.Request) -> web.Response:
        """Twilio: a message came in."""
        if not self.settings.sms_enabled:
            return _text("SMS is not configured here.", 404)
        fields = await self._twilio_form(request)
        if isinstance(fields, web.Response):
            return fields
        await self._accept(twilio_sms.parse(fields))
        return web.Response(text=twilio_sms.EMPTY_TWIML, content_type="text/xml")

    async def sms_status(self, request: web.Request) -> web.Response:
        """Twilio: a delivery report."""
        if not self.settings.sms_enabled:
            return _text("SMS is not configured here.", 404)
        fields = await self._twilio_form(request)
        if isinstance(fields, web.Response):
            return fields
        status = twilio_sms.parse_status(fields)
        await run_in_transaction(
            self.database,
            lambda s: record_status(
                s, "sms", status.provider_id, status.state, status.error_code, status.opted_out
            ),
        )
        return web.Response(status=204)

    async def telegram(self, request: web.Request) -> web.Response:
        """Telegram: an update (a message or a button press)."""
        if not self.settings.telegram_enabled:
            return _text("Telegram is not configured here.", 404)
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not telegram.verify(self.settings.telegram_webhook_secret, given):
            logger.warning("Rejected a Telegram update with a missing or wrong secret token.")
            return _text("Invalid secret token.", 403)
        if request.content_type != "application/json":
            return _text("Expected application/json.", 415)
        parsed = telegram.parse(await _body(request))
        if parsed.incoming is not None:
            await self._accept(parsed.incoming)
        sender = self.senders.get("telegram")
        if parsed.callback_query_id and isinstance(sender, telegram.TelegramSender):
            # Only after the press is safe in the inbox, and never holding up the answer.
            task = asyncio.create_task(sender.acknowledge(parsed.callback_query_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return _text("ok", 200)

    def _rest_refusal(self, request: web.Request) -> web.Response | None:
        """Why a REST request is refused (before its body is read), or None.

        With REST_API_TOKEN set, its Bearer token is required; without one the channel is
        open on a laptop (no PUBLIC_BASE_URL: only this machine reaches it) and off once
        the gateway is public.
        """
        token = self.settings.rest_api_token
        if not token:
            if self.settings.public_base_url:
                return _text("The REST channel is off here.", 404)
            return None
        if not _same(request.headers.get("Authorization", ""), f"Bearer {token}"):
            logger.warning("Rejected a REST request with a missing or wrong token.")
            return web.Response(
                text="A valid bearer token is required.",
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def rest(self, request: web.Request) -> web.Response:
        """The REST channel: a message in, the bot's replies out (as Rasa's REST channel)."""
        refusal = self._rest_refusal(request)
        if refusal is not None:
            return refusal
        incoming = rest.parse(await _body(request))
        accepted = await self._accept(incoming)
        if accepted.inbox_id is None:
            return web.json_response([])
        replies = await self.worker.replies_to(accepted.inbox_id, REST_WAIT_S)
        if replies is None:
            return web.json_response(
                {"error": "The assistant is busy; your message is kept and will be processed."},
                status=503,
            )
        # As Rasa's REST channel answers: addressed to the sender (our ids stay inside).
        return web.json_response([{**r, "recipient_id": incoming.address} for r in replies])


async def health(_: web.Request) -> web.Response:
    """For load balancers and `engage run`: the gateway is up."""
    return web.json_response({"status": "ok"})


def make_app(gateway: Gateway) -> web.Application:
    """The aiohttp application of the gateway."""
    # aiohttp refuses a body of client_max_size bytes or more: MAX_BODY_BYTES itself is allowed.
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1, middlewares=[short_errors])
    app.router.add_get("/healthz", health)
    app.router.add_get("/metrics", metrics.aiohttp_metrics)  # refused through the proxy
    for prefix in ("sms", "telegram", "rest"):
        app.router.add_get(f"/webhooks/{prefix}/", health)
    app.router.add_post("/webhooks/sms/webhook", gateway.sms)
    app.router.add_post("/webhooks/sms/status", gateway.sms_status)
    app.router.add_post("/webhooks/telegram/webhook", gateway.telegram)
    app.router.add_post("/webhooks/rest/webhook", gateway.rest)
    return app


def build(settings: Settings, database: Database | None = None) -> web.Application:
    """The gateway for these settings, with its inbox worker started and stopped with it."""
    database = database or default_database()
    senders = senders_for(settings)
    rasa = rasa_for(settings)  # RASA_URL: one Rasa server or several
    metrics.watch_database(database, "inbox")
    metrics.start_counting(
        inbound=("sms", "telegram", "rest"), outbound=senders, purposes=[Purpose.REPLY]
    )
    eraser = Eraser.for_settings(settings, database)
    outbound = Outbound(database, settings, senders)
    worker = InboxWorker(database, rasa, outbound, eraser=eraser)
    app = make_app(Gateway(settings, database, worker, senders))

    async def start_worker(app: web.Application) -> None:
        app["worker"] = asyncio.create_task(worker.run_forever())

    async def stop_worker(app: web.Application) -> None:
        app["worker"].cancel()
        await asyncio.gather(app["worker"], return_exceptions=True)
        await rasa.close()
        await asyncio.gather(*(sender.close() for sender in senders.values()))

    # aiohttp 3.9 types its signals for aiosignal 1.3; with aiosignal 1.4 they read wrong.
    app.on_startup.append(start_worker)  # type: ignore[arg-type]
    app.on_cleanup.append(stop_worker)  # type: ignore[arg-type]
    return app


def serve(settings: Settings) -> None:
    """Serve until interrupted."""
    web.run_app(
        build(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        access_log=None,
        print=None,
    )
