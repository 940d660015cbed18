"""The check-in scheduler: who is due, claimed once, opened through Rasa on their channel.

One pass (`run_once`) finds residents due a check-in, claims each period in the database
(unique per resident and period, so a restart or a second scheduler never sends twice),
waits its turn under the channel's rate limit, and asks Rasa to start the conversation
with `trigger_intent` on the resident's own channel. Nothing is sent in quiet hours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests

from bot.db import Database
from bot.services.checkins import claim, due_checkins, mark_failed, mark_sent
from bot.settings import Settings
from bot.timing import RateLimiter, in_quiet_hours

logger = logging.getLogger(__name__)

Trigger = Callable[[str, str, str, dict[str, str]], bool]
INTENTS = {"checkin": "start_checkin", "pause_note": "checkins_paused"}


class RasaTrigger:
    """Starts a conversation through Rasa's HTTP API (`trigger_intent`, token-protected)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def __call__(
        self, conversation_id: str, channel: str, intent: str, entities: dict[str, str]
    ) -> bool:
        """True if Rasa accepted it (it then sends through `channel`)."""
        try:
            reply = requests.post(
                f"{self.base_url}/conversations/{conversation_id}/trigger_intent",
                params={"output_channel": channel, "token": self.token},
                json={"name": intent, "entities": entities},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            logger.warning("Rasa did not answer trigger_intent: %s", type(exc).__name__)
            return False
        if reply.status_code != 200:
            logger.warning("Rasa refused trigger_intent: HTTP %s", reply.status_code)
        return reply.status_code == 200


@dataclass
class PassReport:
    """What one pass did."""

    quiet: bool = False
    due: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0  # already claimed by another pass or scheduler
    by_kind: dict[str, int] = field(default_factory=dict)


def limiters_for(settings: Settings) -> dict[str, RateLimiter]:
    """One rate limiter per channel, from the settings."""
    return {
        "sms": RateLimiter(settings.sms_per_second),
        "telegram": RateLimiter(settings.telegram_per_second),
    }


def run_once(
    database: Database,
    settings: Settings,
    now: datetime,
    trigger: Trigger,
    limiters: dict[str, RateLimiter] | None = None,
) -> PassReport:
    """One scheduling pass at `now` (aware)."""
    report = PassReport()
    if in_quiet_hours(now, settings.quiet_hours, settings.timezone):
        report.quiet = True
        return report
    limiters = limiters or limiters_for(settings)
    with database.transaction() as session:
        due = due_checkins(session, now, settings.checkin_jitter_minutes)
    report.due = len(due)
    for item in due:
        with database.transaction() as session:
            checkin_id = claim(session, item)
        if checkin_id is None:
            report.skipped += 1
            continue
        limiters[item.channel].wait()
        ok = trigger(
            item.conversation_id, item.channel, INTENTS[item.kind], {"checkin_id": str(checkin_id)}
        )
        with database.transaction() as session:
            if ok:
                mark_sent(session, checkin_id, now)
            else:
                mark_failed(session, checkin_id)
        report.sent += ok
        report.failed += not ok
        report.by_kind[item.kind] = report.by_kind.get(item.kind, 0) + ok
    return report


def run_forever(
    database: Database,
    settings: Settings,
    trigger: Trigger,
    interval_s: float = 60.0,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> None:
    """Pass after pass until interrupted."""
    limiters = limiters_for(settings)
    while True:
        try:
            report = run_once(database, settings, clock(), trigger, limiters)
            if report.sent or report.failed:
                logger.info(
                    "Check-ins: %d sent, %d failed, %d skipped.",
                    report.sent,
                    report.failed,
                    report.skipped,
                )
        except Exception:  # a bad pass must not stop the next one
            logger.exception("Check-in pass failed")
        time.sleep(interval_s)
