"""The check-in scheduler: who is due, claimed once, opened through Rasa on their channel.

One pass (`run_once`) finds residents due a check-in, claims each period in the database
(unique per resident and period, so a restart or a second scheduler never sends twice),
asks Rasa to start the conversation (its private inbox channel) and sends what Rasa says
through the channel's Sender, under the shared rate limit and never in quiet hours. A
check-in counts as sent only when the provider took the message; one that failed is
claimed again on the next pass, in the same period.

A check-in is never sent late: one claimed more than MESSAGE_VALIDITY_HOURS after it fell
due (the scheduler, Rasa or the provider was down that long) is marked expired instead,
and the resident's next check-in comes a rhythm later. What is sent carries the time left
(Twilio's ValidityPeriod).

The scheduler also applies the retention rules (`bot.retention`) once a day: on its first
pass, then on the first pass of each new day in the organisation's time zone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import partial
from zoneinfo import ZoneInfo

from bot import metrics
from bot.db import Database, run_in_transaction
from bot.models import CheckinKind, CheckinStatus, Purpose
from bot.outbound import Outbound, senders_for
from bot.rasa_client import RasaUnavailable
from bot.rasa_pool import Rasa, rasa_for
from bot.retention import RetentionReport, run_retention
from bot.services.checkins import (
    Due,
    claim,
    due_checkins,
    mark_expired,
    mark_failed,
    mark_sent,
    too_late,
)
from bot.settings import Settings
from bot.timing import in_quiet_hours
from bot.tracker_store import tracker_database

logger = logging.getLogger(__name__)

INTENTS: dict[str, str] = {
    CheckinKind.CHECKIN: "start_checkin",
    CheckinKind.PAUSE_NOTE: "checkins_paused",
}


@dataclass
class PassReport:
    """What one pass did."""

    quiet: bool = False
    due: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0  # already claimed by another pass or scheduler
    expired: int = 0  # claimed more than the validity period after they were due: not sent
    by_kind: dict[str, int] = field(default_factory=dict)


SENT, FAILED, EXPIRED = CheckinStatus.SENT, CheckinStatus.FAILED, CheckinStatus.EXPIRED


async def _open(
    rasa: Rasa, outbound: Outbound, item: Due, checkin_id: int, valid_until: datetime
) -> CheckinStatus:
    """Start the check-in in Rasa and send what it says: SENT only if the message left."""
    entities = {"checkin_id": str(checkin_id)}
    try:
        messages = await rasa.trigger(item.conversation_id, INTENTS[item.kind], entities)
    except RasaUnavailable as exc:
        logger.warning("Rasa did not start a check-in (%s); tried again next pass.", exc)
        return FAILED
    if not messages:
        return FAILED
    delivery = await outbound.deliver(
        item.conversation_id,
        item.channel,
        messages,
        purpose=Purpose.CHECKIN,
        proactive=True,
        valid_until=valid_until,
    )
    if delivery.expired and not delivery.sent:
        return EXPIRED
    return SENT if delivery.ok and delivery.sent > 0 else FAILED


async def run_once(
    database: Database, settings: Settings, now: datetime, rasa: Rasa, outbound: Outbound
) -> PassReport:
    """One scheduling pass at `now` (aware)."""
    report = PassReport()
    if in_quiet_hours(now, settings.quiet_hours, settings.timezone):
        report.quiet = True
        return report
    due = await run_in_transaction(
        database, lambda s: due_checkins(s, now, settings.checkin_jitter_minutes)
    )
    report.due = len(due)
    validity = timedelta(hours=settings.message_validity_hours)
    for item in due:
        checkin_id = await run_in_transaction(database, partial(claim, due=item, now=now))
        if checkin_id is None:
            report.skipped += 1
            continue
        if too_late(item, now, validity):
            outcome = EXPIRED
        else:
            outcome = await _open(rasa, outbound, item, checkin_id, item.due_at + validity)
        settles: dict[str, Callable[..., None]] = {
            SENT: partial(mark_sent, now=now),
            FAILED: mark_failed,
            EXPIRED: partial(mark_expired, now=now),
        }
        settle = settles[outcome]
        await run_in_transaction(database, partial(settle, checkin_id=checkin_id))
        ok = outcome == SENT
        report.sent += ok
        report.failed += outcome == FAILED
        report.expired += outcome == EXPIRED
        report.by_kind[item.kind] = report.by_kind.get(item.kind, 0) + ok
    return report


@dataclass
class DailyRetention:
    """The retention rules, at most once a day: on the first pass, then once each new day."""

    database: Database
    tracker: Database
    settings: Settings
    actor: str = "scheduler"
    last_day: date | None = None  # the organisation's day of the last run

    def _day(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.settings.timezone)).date()

    def due(self, now: datetime) -> bool:
        """Whether the rules have not run yet on `now`'s day."""
        return self._day(now) != self.last_day

    async def maybe_run(self, now: datetime) -> RetentionReport | None:
        """Apply the rules (in a worker thread) unless they ran today; their report, or None.

        The day counts as done before the run, so a run that fails is tried again tomorrow,
        not on every pass.
        """
        if not self.due(now):
            return None
        self.last_day = self._day(now)
        report = await asyncio.to_thread(
            run_retention, self.database, self.tracker, self.settings, now, self.actor
        )
        if report.total:
            logger.info("Retention: %s.", "; ".join(report.lines()))
        return report


async def run_forever(
    database: Database,
    settings: Settings,
    rasa: Rasa,
    outbound: Outbound,
    interval_s: float = 60.0,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    retention: DailyRetention | None = None,
) -> None:
    """Pass after pass until cancelled; the retention rules once a day."""
    if retention is None:
        tracker = tracker_database(settings.tracker_database_url, database)
        retention = DailyRetention(database, tracker, settings)
    while True:
        try:
            report = await run_once(database, settings, clock(), rasa, outbound)
            metrics.count_checkins(report)
            metrics.passed("scheduler")
            if report.sent or report.failed or report.expired:
                logger.info(
                    "Check-ins: %d sent, %d failed, %d skipped, %d expired.",
                    report.sent,
                    report.failed,
                    report.skipped,
                    report.expired,
                )
        except Exception:  # a bad pass must not stop the next one
            logger.exception("Check-in pass failed")
        try:
            await retention.maybe_run(clock())
        except Exception:  # check-ins go on; the rules run again tomorrow
            logger.exception("Retention run failed")
        await asyncio.sleep(interval_s)


async def serve_forever(database: Database, settings: Settings) -> None:
    """The scheduler as a service: its /healthz and /metrics (SCHEDULER_PORT), then passes.

    Check-ins are opened on any of the Rasa servers in RASA_URL (bot/rasa_pool.py). A
    metrics port already taken is logged, not fatal: check-ins matter more than metrics.
    """
    rasa = rasa_for(settings)
    outbound = Outbound(database, settings, senders_for(settings))
    metrics.start_counting(outbound=outbound.senders, purposes=[Purpose.CHECKIN])
    for outcome in metrics.CHECKIN_OUTCOMES:
        metrics.CHECKINS.labels(outcome)
    ops = metrics.OpsServer(
        settings.metrics_host,
        settings.scheduler_port,
        lambda: {"seconds_since_pass": metrics.seconds_since_pass("scheduler")},
    )
    await ops.start_or_warn("scheduler", "SCHEDULER_PORT")
    try:
        await run_forever(database, settings, rasa, outbound)
    finally:
        await ops.stop()
        await rasa.close()
        await outbound.close()
