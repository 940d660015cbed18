"""The one way messages leave: a Sender per provider behind one interface.

Replies to residents (the inbox worker), check-ins (the scheduler) and updates (the
notifier) all go through a `Sender` of `channels/`. `Outbound.deliver` is the path for
Rasa's messages: it finds the address, remembers numbered options, waits for a slot of
the identity's shared rate limit, refuses proactive sends in quiet hours and sends past
their validity (`valid_until`), catches every transport error (nothing escapes into Rasa
or the worker) and records each message.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bot import metrics
from bot.db import Database, run_in_transaction
from bot.erasure import do_not_contact_key
from bot.models import DeliveryStatus, Purpose, utcnow
from bot.phone import mask
from bot.services.delivery import Sent, offer_choices, recipient_refused, record_sent
from bot.services.identities import resident_and_address
from bot.services.rights import is_blocked
from bot.settings import Settings
from bot.slot_stores import slot_reserver
from bot.timing import SharedRateLimiter, in_quiet_hours

logger = logging.getLogger(__name__)

Button = dict[str, Any]
Part = tuple[str, tuple[Button, ...]]  # one provider message: its text and buttons
SEND_ATTEMPTS = 3  # a reply that hits 429 or 5xx is tried this often before it is recorded failed
MAX_RETRY_WAIT_S = 10.0


class RetryLater(Exception):
    """The provider could not take the message now (busy, rate-limited, down, timed out).

    `in_doubt` means the provider may have accepted it anyway (the answer never arrived).
    """

    def __init__(self, code: str, retry_after: float | None = None, in_doubt: bool = False):
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class Undeliverable(Exception):
    """Sending again cannot help: the number is invalid or opted out, the chat blocked us."""

    def __init__(self, code: str, opted_out: bool = False, unreachable: bool = False):
        super().__init__(code)
        self.code = code
        self.opted_out = opted_out
        self.unreachable = unreachable


class Sender(Protocol):
    """Sends messages on one channel, as one sending identity."""

    channel: str
    # Whose rate limit a send counts against, e.g. "sms:+447700900000" or "telegram:123".
    identity: str
    # True if `find_sent` can tell whether a send whose answer was lost went through.
    can_reconcile: bool

    def parts(self, text: str, buttons: Sequence[Button]) -> list[Part]:
        """`text` and its buttons as the provider messages that carry them, in order."""
        ...

    async def send(
        self,
        address: str,
        text: str,
        buttons: Sequence[Button] = (),
        valid_for: float | None = None,
    ) -> str:
        """Send one message; returns the provider's id, or raises RetryLater/Undeliverable.

        `valid_for`: seconds the message may still be delivered in (a provider that queues
        it drops it after that, e.g. Twilio's ValidityPeriod); None for no limit. The
        caller never sends one whose validity has run out.
        """
        ...

    async def find_sent(self, address: str, text: str, since: datetime) -> str | None:
        """The id of `text` sent to `address` since `since`, if the provider has it."""
        ...

    async def close(self) -> None:
        """Release connections opened on the running event loop (a later send reopens)."""
        ...


def senders_for(settings: Settings, telegram_connections: int = 1) -> dict[str, Sender]:
    """A Sender for each configured channel (a channel without settings is left out)."""
    senders: dict[str, Sender] = {}
    if settings.sms_sending_enabled:
        from channels.twilio_sms import SmsSender

        senders["sms"] = SmsSender(settings)
    if settings.telegram_bot_token:
        from channels.telegram import TelegramSender, make_bot

        senders["telegram"] = TelegramSender(make_bot(settings, telegram_connections))
    return senders


def rate_of(settings: Settings, channel: str) -> float:
    """Messages per second allowed on `channel` (summed over every process)."""
    return settings.sms_per_second if channel == "sms" else settings.telegram_per_second


def shared_limiter(
    database: Database, settings: Settings, sender: Sender, batch: int = 1
) -> SharedRateLimiter:
    """The rate limiter of `sender`'s identity, shared through the database (or Redis)."""
    per_second = rate_of(settings, sender.channel)
    reserve = slot_reserver(database, settings, sender.identity, 1.0 / per_second)
    return SharedRateLimiter(per_second, reserve, batch=batch)


@dataclass(frozen=True)
class Prepared:
    """Who a delivery goes to (None: nobody to send to), the options it offers remembered."""

    resident_id: int | None
    address: str | None


@dataclass
class Delivery:
    """What became of a delivery."""

    sent: int = 0
    error: str | None = None  # the provider's code for the message that failed, if one did
    quiet: bool = False  # stopped by quiet hours
    no_address: bool = False  # the resident has no address on that channel
    expired: bool = False  # stopped: its validity ran out before it could leave

    @property
    def ok(self) -> bool:
        """Every message left."""
        return self.error is None and not (self.quiet or self.no_address or self.expired)


@dataclass
class _Pending:
    records: list[Sent] = field(default_factory=list)
    refused: Undeliverable | None = None


class Outbound:
    """Delivers Rasa's messages to one resident through the channel's Sender."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        senders: dict[str, Sender],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.settings = settings
        self.senders = senders
        self.clock = clock
        self.limiters = {c: shared_limiter(database, settings, s) for c, s in senders.items()}

    async def close(self) -> None:
        """Release the senders' connections (a later send reopens them)."""
        await asyncio.gather(*(sender.close() for sender in self.senders.values()))

    @functools.cached_property
    def do_not_contact_key(self) -> str:
        """The key of the do-not-contact list (read once: it may come from a file in var/)."""
        return do_not_contact_key(self.settings)

    def quiet(self) -> bool:
        """True in quiet hours (no proactive message is sent)."""
        return in_quiet_hours(self.clock(), self.settings.quiet_hours, self.settings.timezone)

    async def deliver(
        self,
        conversation_id: str,
        channel: str,
        messages: Sequence[dict[str, Any]],
        *,
        purpose: str = Purpose.REPLY,
        proactive: bool = False,
        valid_until: datetime | None = None,
        prepared: Prepared | None = None,
    ) -> Delivery:
        """Send `messages` (Rasa's: text and buttons) in order; never raises for a provider.

        With `valid_until`, nothing is sent from that moment on, and what is sent carries
        the time left (Twilio's ValidityPeriod). `prepared`: `prepare` was called in the
        caller's own transaction (else it runs in one of its own).
        """
        if prepared is None:
            prepared = await run_in_transaction(
                self.database,
                lambda s: self.prepare(s, conversation_id, channel, messages, proactive=proactive),
            )
        resident_id, address = prepared.resident_id, prepared.address
        sender = self.senders.get(channel)
        if sender is None:  # REST and the terminal chat: replies go back in the HTTP answer
            return Delivery()
        if address is None:
            logger.warning("No %s address for a conversation; nothing sent.", channel)
            return Delivery(no_address=True)
        result, pending = Delivery(), _Pending()
        try:
            await self._send_all(
                sender,
                address,
                messages,
                resident_id,
                purpose,
                proactive,
                valid_until,
                result,
                pending,
            )
        finally:
            await run_in_transaction(
                self.database,
                lambda s: _record(s, pending, resident_id, channel, address, self.clock()),
            )
        return result

    def prepare(
        self,
        session: Session,
        conversation_id: str,
        channel: str,
        messages: Sequence[dict[str, Any]],
        *,
        proactive: bool = False,
    ) -> Prepared:
        """In the caller's transaction: where `messages` go, remembering the options offered."""
        buttons: list[dict[str, Any]] = next(
            (m["buttons"] for m in reversed(messages) if m.get("buttons")), []
        )
        payloads = [str(b.get("payload", "")) for b in buttons]
        key = self.do_not_contact_key if proactive else None
        return Prepared(*_prepare(session, conversation_id, channel, payloads, key))

    def sends(self, channel: str) -> bool:
        """Whether a provider sends this channel's replies (REST's go back in its answer)."""
        return channel in self.senders

    async def _send_all(
        self,
        sender: Sender,
        address: str,
        messages: Sequence[dict[str, Any]],
        resident_id: int | None,
        purpose: str,
        proactive: bool,
        valid_until: datetime | None,
        result: Delivery,
        pending: _Pending,
    ) -> None:
        limiter = self.limiters[sender.channel]
        for message in messages:
            text, buttons = message.get("text") or "", message.get("buttons") or []
            if not text.strip():
                continue
            for part, part_buttons in sender.parts(text, buttons):
                if proactive and self.quiet():
                    result.quiet = True
                    return
                await limiter.wait()
                valid_for = None
                if valid_until is not None:
                    valid_for = (valid_until - self.clock()).total_seconds()
                    if valid_for < 1:  # Twilio's shortest ValidityPeriod is 1 s
                        result.expired = True
                        return
                record = Sent(resident_id, sender.channel, purpose, None, DeliveryStatus.SENT)
                try:
                    provider_id = await self._send(sender, address, part, part_buttons, valid_for)
                except (RetryLater, Undeliverable) as exc:
                    result.error = exc.code
                    if isinstance(exc, Undeliverable):
                        pending.refused = exc
                        metrics.count_provider_error(sender.channel, exc.code)
                except Exception as exc:  # a transport or library error: recorded, not raised
                    result.error = type(exc).__name__[:16]
                    metrics.count_provider_error(sender.channel, result.error)
                else:
                    result.sent += 1
                    pending.records.append(replace(record, provider_id=provider_id))
                    metrics.count_sent(sender.channel, purpose)
                    continue
                logger.warning(
                    "%s message to %s failed (%s).", sender.channel, mask(address), result.error
                )
                pending.records.append(
                    Sent(
                        resident_id,
                        sender.channel,
                        purpose,
                        None,
                        DeliveryStatus.FAILED,
                        result.error,
                    )
                )
                return

    async def _send(
        self,
        sender: Sender,
        address: str,
        text: str,
        buttons: Sequence[Button],
        valid_for: float | None = None,
    ) -> str:
        """Send one part, trying again after a 429 or 5xx (not after a timeout: in doubt)."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await sender.send(address, text, buttons, valid_for=valid_for)
            except RetryLater as exc:
                metrics.count_provider_error(sender.channel, exc.code)
                wait = exc.retry_after if exc.retry_after is not None else float(attempt)
                if exc.in_doubt or attempt == SEND_ATTEMPTS or wait > MAX_RETRY_WAIT_S:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _prepare(
    session: Session,
    conversation_id: str,
    channel: str,
    payloads: list[str],
    blocked_key: str | None,
) -> tuple[int | None, str | None]:
    """The resident's id and address on `channel`; remembers the options about to be offered.

    With `blocked_key` (the do-not-contact key, for a message we start), an address on the
    do-not-contact list is not used.
    """
    found = resident_and_address(session, conversation_id, channel)
    if found is None:
        return None, None
    resident_id, address = found
    if address and blocked_key and is_blocked(session, channel, address, blocked_key):
        return resident_id, None
    offer_choices(session, resident_id, channel, payloads)
    return resident_id, address


def _record(
    session: Session,
    pending: _Pending,
    resident_id: int | None,
    channel: str,
    address: str,
    now: datetime,
) -> None:
    record_sent(session, pending.records, now)
    refused = pending.refused
    if refused is not None:
        recipient_refused(
            session,
            resident_id,
            channel,
            address,
            opted_out=refused.opted_out,
            unreachable=refused.unreachable,
        )
