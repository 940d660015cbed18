"""The notifier worker: sends queued "you said, we did" updates straight to the providers.

Per channel, it claims a couple of seconds' worth of due rows (the next claim while the
current one is still being sent), launches sends spaced by the channel's rate limit (and,
on Telegram, one per chat per second), and writes their outcomes together within 50 ms
(group commit). Nothing is sent in quiet hours.

Crash safety: a claim, a send and its record are three steps, so a worker killed between
the send and the record leaves a row "sending". After its lease that row is claimed again
as in doubt. On SMS the worker first asks Twilio whether the message went out (Twilio
lists the messages sent to a number) and only sends if it did not: exactly once. The
Telegram Bot API has no such list and no idempotency key, so an in-doubt Telegram send is
sent again: at least once, and only the sends in flight at the instant of the crash, or
answered in the 50 ms before it, can be repeated. docs/DECISIONS.md has the reasoning.

Each write after a send is fenced by its claim's token (bot/services/outbox.py): a worker
whose lease ran out mid-send cannot overwrite a row another worker has claimed since.

Validity: an update not sent within MESSAGE_VALIDITY_HOURS of being queued is expired,
never sent late. Claims close expired rows, each send is checked again just before it
leaves, and Twilio is given the time left as the SMS's ValidityPeriod (at most 10 hours),
so it drops the message rather than deliver it late from its own queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from math import ceil
from typing import TypeVar

from sqlalchemy.orm import Session

from bot import metrics
from bot.db import Database, run_in_transaction
from bot.duty_mail import notify_duty_inbox
from bot.models import DeliveryStatus, Purpose
from bot.outbound import RetryLater, Sender, Undeliverable, rate_of, shared_limiter
from bot.phone import mask
from bot.services.delivery import Sent
from bot.services.outbox import (
    Claim,
    Claimed,
    claim_due,
    mark_all_sent,
    mark_expired,
    mark_retry,
    mark_undeliverable,
    release,
)
from bot.settings import Settings
from bot.timing import in_quiet_hours

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_LEASE = timedelta(seconds=60)  # longer than any send can take (timeouts are 15 s)
CLAIM_SECONDS = 2.0  # each claim takes about this many seconds of sending at full rate
MAX_CLAIM = 1000
IN_FLIGHT = 64  # sends in flight at once, per channel
MAX_OPEN_CLAIMS = 100  # claims a drain keeps apart before settling them
RECONCILE_SLACK = timedelta(minutes=5)  # provider clocks may differ from ours
# Send slots are taken from the shared rate limit this many seconds' worth at a time: one
# short locked transaction per batch, not per message (0.05 s cost 7% of the fan-out rate
# at 500/s on SQLite, 0.2 s about 3%: docs/BENCHMARKS.md).
SLOT_BATCH_S = 0.2
RECORD_EVERY_S = 0.05  # outcomes wait at most this long to be written (group commit)
RECORD_RETRY_S = 1.0
DUTY_EVERY_S = 5.0  # how often new safeguarding alerts are looked for (and emailed)


@dataclass
class Report:
    """What a drain did."""

    quiet: bool = False
    sent: int = 0
    reconciled: int = 0  # found already sent at the provider after a crash
    resent_in_doubt: int = 0  # sent again because the provider cannot tell (Telegram)
    retrying: int = 0
    failed: int = 0
    expired: int = 0  # not sent within their validity period: never will be
    by_channel: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    item: Claimed
    provider_id: str | None = None
    retry: RetryLater | None = None
    refused: Undeliverable | None = None
    expired: bool = False  # its validity ran out before it could leave: not sent

    @property
    def outbox_id(self) -> int:
        """The outbox row it settles."""
        return self.item.outbox_id


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(timezone.utc)


class Notifier:
    """Drains the outbox through one Sender per channel."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        senders: dict[str, Sender],
        *,
        lease: timedelta = DEFAULT_LEASE,
        clock: Callable[[], datetime] = utc_now,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self.database = database
        self.settings = settings
        self.senders = senders
        self.lease = lease
        self.clock = clock
        self.in_flight = in_flight
        self.validity = timedelta(hours=settings.message_validity_hours)
        # Shared with every other process sending as the same number or bot.
        self.limiters = {
            channel: shared_limiter(
                database,
                settings,
                sender,
                batch=max(1, round(rate_of(settings, channel) * SLOT_BATCH_S)),
            )
            for channel, sender in senders.items()
        }
        self._chat_interval = 1.0 / settings.telegram_per_chat_per_second
        self._chat_next: dict[str, float] = {}
        self._db_lane = asyncio.Lock()  # one database transaction at a time (SQLite-friendly)
        # Outcomes are written together every RECORD_EVERY_S: one transaction per message
        # would cost more than the send itself.
        self._outcomes: list[_Outcome] = []  # known, not yet written
        self._recording: asyncio.Task | None = None
        self._next_record = 0.0

    def quiet(self) -> bool:
        """True in quiet hours: nothing is sent."""
        return in_quiet_hours(self.clock(), self.settings.quiet_hours, self.settings.timezone)

    async def drain(self) -> Report:
        """Send everything due now, on every channel, then return."""
        report = Report()
        if self.quiet():
            report.quiet = True
            return report
        try:
            # Every channel finishes its own drain (and writes what it knows) even if another
            # fails: nothing is left running behind the next drain.
            ended = await asyncio.gather(
                *(self._drain_channel(c, report) for c in self.senders), return_exceptions=True
            )
        finally:
            await asyncio.gather(*(sender.close() for sender in self.senders.values()))
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome
        return report

    async def run_forever(self, idle_s: float = 2.0) -> None:
        """Drain, wait a moment, drain again: until cancelled.

        Beside it, the duty inbox is told of new safeguarding alerts (if configured).
        """
        duty = asyncio.create_task(tell_duty_inbox(self.database, self.settings))
        try:
            await self._drain_forever(idle_s)
        finally:
            duty.cancel()

    async def _drain_forever(self, idle_s: float) -> None:
        while True:
            try:
                report = await self.drain()
                if report.sent or report.failed or report.retrying or report.expired:
                    logger.info(
                        "Updates: %d sent, %d retrying, %d failed, %d expired.",
                        report.sent,
                        report.retrying,
                        report.failed,
                        report.expired,
                    )
            except Exception:  # a bad pass must not stop the next one
                logger.exception("Notifier pass failed")
            else:
                metrics.passed("notifier")
            await asyncio.sleep(idle_s)

    async def _drain_channel(self, channel: str, report: Report) -> None:
        sender, limiter = self.senders[channel], self.limiters[channel]
        per_second = 1.0 / limiter.interval
        batch = max(1, min(MAX_CLAIM, ceil(per_second * CLAIM_SECONDS)))
        slots = asyncio.Semaphore(self.in_flight)
        sends: list[asyncio.Task] = []
        # This drain's claims: it never claims their rows again, whatever the lease, so it
        # can claim the next batch while the last one is still being sent.
        mine: set[str] = set()
        claim = await self._claim(channel, batch, mine, report) if not self.quiet() else None
        while claim is not None and claim.taken:
            if len(mine) >= MAX_OPEN_CLAIMS:  # keep `mine` short: settle what is in flight
                await asyncio.gather(*sends)
                await self._record_now()
                sends, mine = [], {claim.token}
            next_claim: asyncio.Task | None = None
            claim_ahead_at = len(claim.items) * 3 // 4
            for i, item in enumerate(claim.items):
                if i == claim_ahead_at:
                    next_claim = self._claim_ahead(channel, batch, mine, report)
                await limiter.wait()
                if self.quiet():  # quiet hours began: give the rest back, unsent
                    rest = [later.outbox_id for later in claim.items[i:]]
                    await self._db(partial(release, outbox_ids=rest, token=claim.token))
                    break
                await slots.acquire()
                task = asyncio.create_task(self._deliver(sender, item, report))
                task.add_done_callback(lambda _: slots.release())
                sends.append(task)
            if next_claim is None:  # nothing to send in this claim (all closed at claim time)
                next_claim = self._claim_ahead(channel, batch, mine, report)
            claim = await next_claim if next_claim is not None else None
            sends = [task for task in sends if not task.done()]
        await asyncio.gather(*sends)
        await self._record_now()

    def _claim_ahead(
        self, channel: str, batch: int, mine: set[str], report: Report
    ) -> asyncio.Task | None:
        """Start claiming the next batch, unless quiet hours have begun."""
        if self.quiet():
            return None
        return asyncio.create_task(self._claim(channel, batch, mine, report))

    async def _claim(self, channel: str, batch: int, mine: set[str], report: Report) -> Claim:
        now, skip = self.clock(), frozenset(mine)
        claim = await self._db(
            lambda s: claim_due(
                s, channel, now, batch, self.lease, skip_claims=skip, validity=self.validity
            )
        )
        mine.add(claim.token)
        report.expired += claim.expired
        if claim.expired:
            metrics.OUTBOX.labels(channel, "expired").inc(claim.expired)
        return claim

    async def _deliver(self, sender: Sender, item: Claimed, report: Report) -> None:
        """Send one notification (checking first if a crash left it in doubt); note it."""
        try:
            if sender.channel == "telegram":
                await self._per_chat_wait(item.address)
            outcome = await self._send(sender, item, report)
        except Exception as exc:  # never lose the row: record it as a retry
            logger.warning("Sending an update failed unexpectedly: %s", type(exc).__name__)
            outcome = _Outcome(item, retry=RetryLater("error", in_doubt=True))
        self._count(outcome, sender.channel, item, report)
        self._outcomes.append(outcome)
        self._record_soon()

    async def _send(self, sender: Sender, item: Claimed, report: Report) -> _Outcome:
        # Checked again as it leaves: it may have waited for its slot, or its chat's turn.
        valid_for = (item.valid_until - self.clock()).total_seconds()
        if valid_for < 1:  # Twilio's shortest ValidityPeriod is 1 s
            return _Outcome(item, expired=True)
        try:
            if item.in_doubt and sender.can_reconcile:
                since = item.queued_at - RECONCILE_SLACK
                found = await sender.find_sent(item.address, item.text, since)
                if found is not None:
                    report.reconciled += 1
                    return _Outcome(item, provider_id=found)
            elif item.in_doubt:
                report.resent_in_doubt += 1
                logger.warning(
                    "Resending an update to %s whose earlier send may have gone through.",
                    mask(item.address),
                )
            sent = await sender.send(item.address, item.text, valid_for=valid_for)
            return _Outcome(item, provider_id=sent)
        except RetryLater as exc:
            return _Outcome(item, retry=exc)
        except Undeliverable as exc:
            return _Outcome(item, refused=exc)

    def _count(self, outcome: _Outcome, channel: str, item: Claimed, report: Report) -> None:
        if outcome.provider_id is not None:
            report.sent += 1
            report.by_channel[channel] = report.by_channel.get(channel, 0) + 1
            _measure(channel, "sent")
        elif outcome.retry is not None:
            report.retrying += 1
            _measure(channel, "retrying", outcome.retry.code)
        elif outcome.expired:
            report.expired += 1
            _measure(channel, "expired")
        elif outcome.refused is not None:
            report.failed += 1
            _measure(channel, "failed", outcome.refused.code)
            logger.info(
                "%s refused an update to %s (%s).", channel, mask(item.address), outcome.refused
            )

    def _record_soon(self) -> None:
        """Have the outcomes known so far written within RECORD_EVERY_S (group commit)."""
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._keep_recording())

    async def _keep_recording(self) -> None:
        while self._outcomes:
            await asyncio.sleep(max(0.0, self._next_record - time.monotonic()))
            try:
                await self._record_now()
            except Exception as exc:  # kept for the next try; the drain's own write raises
                logger.warning("Recording sends failed (%s); trying again.", type(exc).__name__)
                self._next_record = time.monotonic() + RECORD_RETRY_S

    async def _record_now(self) -> None:
        """Write every outcome known so far, in one transaction (kept if it fails)."""
        async with self._db_lane:
            batch, self._outcomes = self._outcomes, []
            self._next_record = time.monotonic() + RECORD_EVERY_S
            if not batch:
                return
            now = self.clock()
            try:
                await run_in_transaction(self.database, lambda s: _write(s, batch, now))
            except BaseException:
                self._outcomes = batch + self._outcomes
                raise

    async def _per_chat_wait(self, chat: str) -> None:
        """At most TELEGRAM_PER_CHAT_PER_SECOND messages to any one chat."""
        now = time.monotonic()
        at = max(now, self._chat_next.get(chat, 0.0))
        self._chat_next[chat] = at + self._chat_interval
        if len(self._chat_next) > 10_000:  # forget chats whose slot has passed
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        if at > now:
            await asyncio.sleep(at - now)

    async def _db(self, work: Callable[[Session], T]) -> T:
        async with self._db_lane:
            return await run_in_transaction(self.database, work)


def _measure(channel: str, outcome: str, code: str | None = None) -> None:
    """Count one settled update for the operators (and the provider's code if it failed)."""
    metrics.OUTBOX.labels(channel, outcome).inc()
    if outcome == "sent":
        metrics.count_sent(channel, Purpose.UPDATE)
    elif code is not None:
        metrics.count_provider_error(channel, code)


async def serve_forever(notifier: Notifier) -> None:
    """The notifier as a service: its /healthz and /metrics (NOTIFIER_PORT), then drains.

    A metrics port already taken is logged, not fatal: sending matters more than metrics.
    """
    settings = notifier.settings
    metrics.watch_database(notifier.database, "outbox")
    for channel in notifier.senders:
        metrics.start_counting(outbound=[channel], purposes=[Purpose.UPDATE])
        for outcome in metrics.OUTBOX_OUTCOMES:
            metrics.OUTBOX.labels(channel, outcome)
    ops = metrics.OpsServer(
        settings.metrics_host,
        settings.notifier_port,
        lambda: {"seconds_since_drain": metrics.seconds_since_pass("notifier")},
    )
    await ops.start_or_warn("notifier", "NOTIFIER_PORT")
    try:
        await notifier.run_forever()
    finally:
        await ops.stop()


async def tell_duty_inbox(database: Database, settings: Settings) -> None:
    """Email the duty inbox about new safeguarding alerts, every few seconds, until cancelled."""
    while True:
        try:
            told = await asyncio.to_thread(notify_duty_inbox, database, settings)
            if told:
                logger.info("Told the duty inbox about %d safeguarding message(s).", told)
        except Exception as exc:  # the database is down: try again later
            logger.warning("Duty inbox pass failed (%s).", type(exc).__name__)
        await asyncio.sleep(DUTY_EVERY_S)


def _write(session: Session, outcomes: list[_Outcome], now: datetime) -> None:
    """Record a batch of outcomes."""
    sent = [
        Sent(
            o.item.resident_id,
            o.item.channel,
            Purpose.UPDATE,
            o.provider_id,
            DeliveryStatus.SENT,
            outbox_id=o.outbox_id,
            claim_token=o.item.claim_token,
        )
        for o in outcomes
        if o.provider_id is not None
    ]
    mark_all_sent(session, sent, now)
    for outcome in outcomes:
        token = outcome.item.claim_token
        if outcome.provider_id is not None:
            continue
        if outcome.retry is not None:
            retry = outcome.retry
            code = "timeout" if retry.in_doubt else retry.code
            mark_retry(session, outcome.outbox_id, code, now, retry.retry_after, token=token)
        elif outcome.expired:
            mark_expired(session, outcome.outbox_id, token=token)
        elif outcome.refused is not None:
            refused = outcome.refused
            mark_undeliverable(
                session,
                outcome.outbox_id,
                refused.code,
                token=token,
                opted_out=refused.opted_out,
                unreachable=refused.unreachable,
            )
