"""SMS through Twilio: signed webhooks in, `twilio.rest.Client` out.

Inbound (`/webhooks/sms/webhook`): 413 over 64 KiB, 403 without a valid
`X-Twilio-Signature` for the public URL, replays of a `MessageSid` answered 200 and
dropped, carrier keywords handled before NLU, "1" mapped to the first option offered.
Status callbacks (`/webhooks/sms/status`) are signature-checked too and record
delivered / failed / undelivered; error 21610 (the recipient sent STOP to the carrier)
opts the resident out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import ClientConnectorError, ClientError
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.db import Database
from bot.models import utcnow
from bot.outbound import RetryLater, Undeliverable
from bot.phone import InvalidNumber, mask, to_e164
from bot.services.checkins import resident_wrote
from bot.services.delivery import (
    chosen_payload,
    first_delivery,
    offer_choices,
    record_outbound,
    record_status,
)
from bot.services.identities import address_for, resident_for
from bot.services.residents import find_resident
from bot.settings import Settings, get_settings
from bot.sms import split_sms
from channels.common import NON_TEXT, DatabaseUser, bad_request, text_for_rasa, too_large

logger = logging.getLogger(__name__)

CHANNEL = "sms"
TWILIO_API = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TIMEOUT_S = 15
# Errors after which sending again cannot help (unreachable, invalid or opted-out number).
PERMANENT_ERRORS = {21211, 21408, 21610, 21612, 21614, 30003, 30005, 30006, 30007}


def rebased(url: str, base_url: str | None) -> str:
    """`url` with Twilio's API origin replaced by `base_url` (a test fake or a proxy), if set."""
    if base_url and url.startswith(TWILIO_API):
        return base_url.rstrip("/") + url[len(TWILIO_API) :]
    return url


class BaseUrlHttpClient(TwilioHttpClient):
    """Blocking Twilio API calls, to another base URL if one is set."""

    def __init__(self, base_url: str | None) -> None:
        super().__init__(timeout=TIMEOUT_S)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        """Rewrite the API origin, then send as usual."""
        return super().request(method, rebased(url, self.base_url), *args, **kwargs)


class BaseUrlAsyncHttpClient(AsyncTwilioHttpClient):
    """Twilio API calls on aiohttp (to another base URL if one is set)."""

    def __init__(self, base_url: str | None) -> None:
        super().__init__(timeout=TIMEOUT_S)
        self.base_url = base_url

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        """Rewrite the API origin, then send as usual."""
        return await super().request(method, rebased(url, self.base_url), *args, **kwargs)


def twilio_client(settings: Settings) -> Client:
    """A blocking Twilio REST client for the configured account (and API base URL, if set)."""
    return Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=BaseUrlHttpClient(settings.twilio_api_base_url),
    )


def numbered(text: str, buttons: list[dict[str, Any]]) -> str:
    """A question with its buttons as numbered options: "... 1 Housing  2 Something else".

    A 1-to-5 scale (buttons titled "1".."5") is left as the question words it.
    """
    if all(b.get("title") == str(i) for i, b in enumerate(buttons, start=1)):
        return text
    options = "  ".join(f"{i} {b.get('title', '')}" for i, b in enumerate(buttons, start=1))
    return f"{text}\n{options}"


def _sender_options(settings: Settings, address: str, body: str) -> dict[str, Any]:
    """Arguments for `messages.create`: recipient, sender and status callback."""
    options: dict[str, Any] = {"to": address, "body": body}
    if settings.twilio_messaging_service_sid:
        options["messaging_service_sid"] = settings.twilio_messaging_service_sid
    else:
        options["from_"] = settings.twilio_from_number
    if settings.public_base_url:
        options["status_callback"] = f"{settings.public_base_url}/webhooks/sms/status"
    return options


class TwilioSmsSender:
    """Sends notifications by SMS, one Twilio message each (up to two segments).

    It uses twilio's own asyncio client (aiohttp): a fan-out costs about a third of the
    CPU per message that the blocking client on threads did (docs/BENCHMARKS.md). Its
    connections belong to the event loop they were opened on: they are opened on first
    use and released by `close()`.
    """

    channel = CHANNEL
    can_reconcile = True  # Twilio lists the messages sent to a number

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._http: BaseUrlAsyncHttpClient | None = None
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _api(self) -> Client:
        """The client for the running event loop, made on first use."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._http = BaseUrlAsyncHttpClient(self.settings.twilio_api_base_url)
            self._client = Client(
                self.settings.twilio_account_sid,
                self.settings.twilio_auth_token,
                http_client=self._http,
            )
            self._loop = loop
        return self._client

    async def send(self, address: str, text: str) -> str:
        """Send one SMS; returns its MessageSid."""
        options = _sender_options(self.settings, address, text)
        try:
            message = await self._api().messages.create_async(**options)
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            if exc.status == 429 or exc.status >= 500:
                raise RetryLater(code) from None
            raise Undeliverable(code, opted_out=code == "21610") from None
        except ClientConnectorError:
            raise RetryLater("connection") from None  # nothing reached Twilio
        except (ClientError, asyncio.TimeoutError):
            # The request may have reached Twilio before the answer was lost.
            raise RetryLater("timeout", in_doubt=True) from None
        return message.sid

    async def find_sent(self, address: str, text: str, since: datetime) -> str | None:
        """The sid of `text` sent to `address` since `since`, from Twilio's message list."""
        try:
            recent = await self._api().messages.list_async(to=address, limit=50)
        except (TwilioRestException, ClientError, asyncio.TimeoutError):
            raise RetryLater("lookup", in_doubt=True) from None
        for message in recent:
            created = message.date_created
            if message.body == text and (created is None or created >= since):
                return message.sid
        return None

    async def close(self) -> None:
        """Release the connections (the next send opens new ones)."""
        http, loop = self._http, self._loop
        self._http = self._client = self._loop = None
        if http is not None and loop is asyncio.get_running_loop():
            await http.close()


class TwilioSmsOutput(DatabaseUser, OutputChannel):
    """Sends SMS to residents, looked up by conversation id, split into single segments."""

    @classmethod
    def name(cls) -> str:
        """The channel's name (Rasa's `output_channel` for trigger_intent)."""
        return CHANNEL

    def __init__(
        self, settings: Settings, client: Client, database: Database | None = None
    ) -> None:
        super().__init__(database)
        self.settings = settings
        self.client = client

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Send a text."""
        await self._send(recipient_id, text, payloads=[])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        """Send a question with numbered options; remember what each number means."""
        payloads = [b.get("payload", "") for b in buttons]
        await self._send(recipient_id, numbered(text, buttons), payloads=payloads)

    async def _send(self, conversation_id: str, text: str, payloads: list[str]) -> None:
        def _prepare(session):  # type: ignore[no-untyped-def]
            resident = find_resident(session, conversation_id)
            if resident is not None:
                offer_choices(session, resident, CHANNEL, payloads)
            return address_for(session, conversation_id, CHANNEL)

        address = await self.in_transaction(_prepare)
        if address is None:
            logger.warning("No SMS number for a conversation; message not sent.")
            return
        for part in split_sms(text):
            if not await self._send_part(conversation_id, address, part):
                return

    async def _send_part(self, conversation_id: str, address: str, body: str) -> bool:
        """Send one segment; False if the number cannot take more."""
        options = _sender_options(self.settings, address, body)
        try:
            sent = await asyncio.to_thread(self.client.messages.create, **options)
        except TwilioRestException as exc:
            code = exc.code
            logger.warning("SMS to %s failed: Twilio error %s.", mask(address), code)
            await self.in_transaction(
                lambda s: record_outbound(
                    s,
                    resident=find_resident(s, conversation_id),
                    channel=CHANNEL,
                    provider_id=None,
                    status="failed",
                    error_code=str(code),
                )
            )
            return code not in PERMANENT_ERRORS
        await self.in_transaction(
            lambda s: record_outbound(
                s,
                resident=find_resident(s, conversation_id),
                channel=CHANNEL,
                provider_id=sent.sid,
                status="sent",
            )
        )
        return True


def form_fields(request: Request) -> dict[str, str]:
    """The form-encoded body as a dict (last value wins); ValueError if it is not a form."""
    body = (request.body or b"").decode("utf-8")
    return dict(parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body)))


class TwilioSmsInput(DatabaseUser, InputChannel):
    """Twilio's incoming-message and status-callback webhooks."""

    @classmethod
    def name(cls) -> str:
        """URL prefix /webhooks/sms/."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TwilioSmsInput:
        """Build from credentials.yml (secrets from the environment) and the settings."""
        credentials = credentials or {}
        settings = get_settings()
        settings = replace(
            settings,
            twilio_account_sid=credentials.get("account_sid") or settings.twilio_account_sid,
            twilio_auth_token=credentials.get("auth_token") or settings.twilio_auth_token,
        )
        return cls(settings=settings, auth_token=settings.twilio_auth_token)

    def __init__(
        self,
        settings: Settings,
        auth_token: str,
        database: Database | None = None,
        client: Client | None = None,
    ) -> None:
        super().__init__(database)
        if not settings.public_base_url:
            raise ValueError("PUBLIC_BASE_URL must be set: Twilio signatures are checked on it")
        self.settings = settings
        self.validator = RequestValidator(auth_token)
        self._client = client

    def public_url(self, request: Request) -> str:
        """The URL Twilio called, as the provider saw it (behind any proxy or tunnel)."""
        query = f"?{request.query_string}" if request.query_string else ""
        return f"{self.settings.public_base_url}{request.path}{query}"

    def get_output_channel(self) -> OutputChannel:
        """The SMS sender, so Rasa can also message residents first."""
        if self._client is None:
            self._client = twilio_client(self.settings)
        return TwilioSmsOutput(self.settings, self._client, self._database)

    def _verified_form(self, request: Request) -> dict[str, str] | HTTPResponse:
        """The form fields of a genuine Twilio request, or the error response to send."""
        rejected = too_large(request)
        if rejected is not None:
            return rejected
        try:
            fields = form_fields(request)
        except (UnicodeDecodeError, ValueError):
            return bad_request("Expected a form-encoded body.")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(
            self.public_url(request), fields, signature
        ):
            logger.warning("Rejected an SMS webhook with a missing or wrong Twilio signature.")
            return response.text("Invalid Twilio signature.", status=403)
        return fields

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook routes."""
        sms = Blueprint("sms_webhook", __name__)

        @sms.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sms.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            fields = self._verified_form(request)
            if isinstance(fields, HTTPResponse):
                return fields
            sid, sender = fields.get("MessageSid", ""), fields.get("From", "")
            if not sid or not sender:
                return bad_request("MessageSid and From are required.")
            try:
                address = to_e164(sender)
            except InvalidNumber:
                return bad_request("From is not a phone number.")
            body = fields.get("Body", "")
            has_media = fields.get("NumMedia", "0") not in ("", "0")

            def _accept(session):  # type: ignore[no-untyped-def]
                if not first_delivery(session, CHANNEL, sid):
                    return None, None
                resident = resident_for(session, CHANNEL, address)
                resident_wrote(session, resident, utcnow())
                return resident.conversation_id, chosen_payload(session, resident, CHANNEL, body)

            conversation_id, payload = await self.in_transaction(_accept)
            if conversation_id is None:
                logger.info("Dropped a repeated SMS webhook from %s.", mask(address))
                return response.text(EMPTY_TWIML, content_type="text/xml")
            if payload:
                text = payload
            elif body.strip():
                text = text_for_rasa(body)
            else:
                text = NON_TEXT if has_media else ""
            if text:
                await on_new_message(
                    UserMessage(
                        text,
                        self.get_output_channel(),
                        conversation_id,
                        input_channel=CHANNEL,
                    )
                )
            return response.text(EMPTY_TWIML, content_type="text/xml")

        @sms.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            fields = self._verified_form(request)
            if isinstance(fields, HTTPResponse):
                return fields
            sid, state = fields.get("MessageSid", ""), fields.get("MessageStatus", "")
            if not sid or not state:
                return bad_request("MessageSid and MessageStatus are required.")
            error = fields.get("ErrorCode") or None
            await self.in_transaction(lambda s: record_status(s, CHANNEL, sid, state, error))
            return response.text("", status=204)

        return sms
