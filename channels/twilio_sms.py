"""SMS through Twilio: verify and parse its webhooks, format and send SMS. No business rules.

Inbound (`/webhooks/sms/webhook`): the `X-Twilio-Signature` is checked against the
public URL Twilio called (`PUBLIC_BASE_URL` + path + query), then the form becomes an
`Incoming` for `bot.services.inbound`. Delivery reports (`/webhooks/sms/status`) are
signature-checked the same way. Outbound: `SmsSender`, on twilio's own asyncio client;
buttons become numbered options; Twilio's error codes mean what `ERRORS` says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import ClientConnectorError, ClientError
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.outbound import Button, Part, RetryLater, Undeliverable
from bot.phone import InvalidNumber, to_e164
from bot.services.inbound import NON_TEXT, Incoming
from bot.settings import Settings
from bot.sms import numbered, split_sms
from channels.common import BadInput

CHANNEL = "sms"
TWILIO_API = "https://api.twilio.com"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TIMEOUT_S = 15
MAX_MESSAGE_CHARS = 1600  # Twilio refuses longer bodies (error 21617)
MAX_VALIDITY_S = 36000  # Twilio's longest ValidityPeriod (10 hours; error 21624 beyond)

# What Twilio's error codes mean for us (anything else: retry later if 429/5xx, else final).
OPTED_OUT, UNREACHABLE, PERMANENT = "opted_out", "unreachable", "permanent"
ERRORS = {
    "21610": OPTED_OUT,  # the recipient replied STOP to the carrier
    "21211": PERMANENT,  # invalid 'To' number
    "21408": PERMANENT,  # no permission to send to that region
    "21612": UNREACHABLE,  # the 'To' number cannot be reached from this number
    "21614": UNREACHABLE,  # not a mobile number
    "30003": PERMANENT,  # handset off or out of coverage: this message only
    "30005": UNREACHABLE,  # unknown destination handset
    "30006": UNREACHABLE,  # landline or unreachable carrier
    "30007": PERMANENT,  # filtered by the carrier
}


def meaning(code: str | None) -> str | None:
    """What a Twilio error code means for us (`ERRORS`), or None."""
    return ERRORS.get(code or "")


def rebased(url: str, base_url: str | None) -> str:
    """`url` with Twilio's API origin replaced by `base_url` (a test fake or a proxy), if set."""
    if base_url and url.startswith(TWILIO_API):
        return base_url.rstrip("/") + url[len(TWILIO_API) :]
    return url


class BaseUrlAsyncHttpClient(AsyncTwilioHttpClient):
    """Twilio API calls on aiohttp (to another base URL if one is set)."""

    def __init__(self, base_url: str | None) -> None:
        super().__init__(timeout=TIMEOUT_S)
        self.base_url = base_url

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Rewrite the API origin, then send as usual (within TIMEOUT_S)."""
        # twilio's client passes timeout=None, which aiohttp takes as "no timeout at all":
        # the timeout given to the constructor is otherwise never applied.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return await super().request(method, rebased(url, self.base_url), *args, **kwargs)


# --- inbound -----------------------------------------------------------------------------


def public_url(settings: Settings, path: str, query_string: str) -> str:
    """The URL Twilio called, as the provider saw it (behind any proxy or tunnel)."""
    query = f"?{query_string}" if query_string else ""
    return f"{settings.public_base_url}{path}{query}"


def form_fields(body: bytes) -> dict[str, str]:
    """The form-encoded body as a dict (last value wins); BadInput if it is not a form."""
    try:
        text = body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except (UnicodeDecodeError, ValueError):
        raise BadInput("Expected a form-encoded body.") from None


def verify(auth_token: str, url: str, fields: dict[str, str], signature: str) -> bool:
    """True if `signature` is Twilio's for this URL and form, with our auth token."""
    return bool(signature) and RequestValidator(auth_token).validate(url, fields, signature)


def parse(fields: dict[str, str]) -> Incoming:
    """An incoming SMS (or MMS) as an `Incoming`; BadInput if required fields are missing."""
    sid, sender = fields.get("MessageSid", ""), fields.get("From", "")
    if not sid or not sender:
        raise BadInput("MessageSid and From are required.")
    try:
        address = to_e164(sender)
    except InvalidNumber:
        raise BadInput("From is not a phone number.") from None
    body = fields.get("Body", "")
    has_media = fields.get("NumMedia", "0") not in ("", "0")
    payload = NON_TEXT if has_media and not body.strip() else None
    return Incoming(CHANNEL, address, body, provider_id=sid, payload=payload)


@dataclass(frozen=True)
class Status:
    """A delivery report."""

    provider_id: str
    state: str  # Twilio's: queued, sent, delivered, undelivered, failed...
    error_code: str | None
    opted_out: bool


def parse_status(fields: dict[str, str]) -> Status:
    """A delivery report; BadInput if required fields are missing."""
    sid, state = fields.get("MessageSid", ""), fields.get("MessageStatus", "")
    if not sid or not state:
        raise BadInput("MessageSid and MessageStatus are required.")
    error = fields.get("ErrorCode") or None
    return Status(sid, state, error, meaning(error) == OPTED_OUT)


# --- outbound ----------------------------------------------------------------------------


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


class SmsSender:
    """Sends SMS through Twilio: replies, check-ins and updates alike.

    It uses twilio's own asyncio client (aiohttp): a fan-out costs about a third of the
    CPU per message that the blocking client on threads did (docs/BENCHMARKS.md). Its
    connections belong to the event loop they were opened on: they are opened on first
    use and released by `close()`.
    """

    channel = CHANNEL
    can_reconcile = True  # Twilio lists the messages sent to a number

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        sender = settings.twilio_messaging_service_sid or settings.twilio_from_number
        self.identity = f"sms:{sender}"
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

    def parts(self, text: str, buttons: Sequence[Button]) -> list[Part]:
        """Numbered options, then single-segment SMS in order (so each arrives whole)."""
        return [(part, ()) for part in split_sms(numbered(text, buttons))]

    async def send(
        self,
        address: str,
        text: str,
        buttons: Sequence[Button] = (),
        valid_for: float | None = None,
    ) -> str:
        """Send one SMS (buttons already numbered into `text`); returns its MessageSid.

        `valid_for` (seconds) becomes Twilio's ValidityPeriod, which takes whole seconds
        from 1 to MAX_VALIDITY_S: Twilio drops the message (error 30036) rather than send it
        from its queue after that. The caller never passes less than 1.
        """
        options = _sender_options(self.settings, address, text[:MAX_MESSAGE_CHARS])
        if valid_for is not None:
            options["validity_period"] = max(1, min(MAX_VALIDITY_S, int(valid_for)))
        try:
            message = await self._api().messages.create_async(**options)
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            if exc.status == 429 or exc.status >= 500:
                raise RetryLater(code) from None
            kind = meaning(code)
            raise Undeliverable(
                code, opted_out=kind == OPTED_OUT, unreachable=kind == UNREACHABLE
            ) from None
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
