"""Scheduler passes: quiet hours, one check-in per period even with two schedulers at once,
sent only when the provider took it, and tried again in the same period when it was not."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.models import AuditEvent, Checkin, OutboundMessage, Resident, View
from bot.outbound import Outbound, senders_for
from bot.rasa_client import RasaUnavailable
from bot.scheduler import DailyRetention, run_forever, run_once
from tests.residents import add_resident

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
QUESTION = "Hi from Leeds Listens. What's one thing about your area you'd change?"


class StandInRasa:
    """Rasa's trigger as the scheduler sees it (the e2e tests use the real one).

    It answers with the check-in question, or fails as Rasa does when it or its action
    server is down.
    """

    def __init__(self, ok: bool = True) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.ok = ok
        self._lock = threading.Lock()

    async def trigger(self, conversation_id, intent, entities):
        with self._lock:
            self.calls.append((conversation_id, intent, entities))
        if not self.ok:
            raise RasaUnavailable("HTTP 503")
        return [{"recipient_id": conversation_id, "text": QUESTION}]


@pytest.fixture
def scheduler_settings(channel_settings):
    return replace(channel_settings, checkin_jitter_minutes=0)


def residents(database, count: int) -> None:
    with database.transaction() as s:
        for n in range(count):
            channel = "sms" if n % 2 else "telegram"
            address = f"+4477009{n:05d}" if channel == "sms" else str(900000 + n)
            add_resident(s, channel, address, joined=T0)


def one_pass(database, settings, now, rasa):
    """One pass, as `engage scheduler --once` runs it (the outbound clock is the pass's)."""
    outbound = Outbound(database, settings, senders_for(settings), clock=lambda: now)

    async def _pass():
        try:
            return await run_once(database, settings, now, rasa, outbound)
        finally:
            await outbound.close()

    return asyncio.run(_pass())


def test_a_pass_opens_each_due_conversation_on_its_channel(database, scheduler_settings, fake):
    residents(database, 4)
    rasa = StandInRasa()
    report = one_pass(database, scheduler_settings, T0 + timedelta(days=31), rasa)
    assert (report.due, report.sent, report.failed) == (4, 4, 0)
    assert all(c[1] == "start_checkin" and c[2]["checkin_id"].isdigit() for c in rasa.calls)
    sent = sorted((c.provider, c.params.get("Body") or c.params.get("text")) for c in fake.calls)
    assert sent == [("telegram", QUESTION)] * 2 + [("twilio", QUESTION)] * 2
    with database.transaction() as s:
        assert s.scalars(select(OutboundMessage.purpose)).all() == ["checkin"] * 4
    # The same pass again, or a restart: nothing more this period.
    again = one_pass(database, scheduler_settings, T0 + timedelta(days=31, hours=1), rasa)
    assert again.sent == 0 and len(rasa.calls) == 4 and len(fake.calls) == 4


def test_nothing_is_sent_in_quiet_hours(database, scheduler_settings, fake):
    residents(database, 2)
    rasa = StandInRasa()
    night = datetime(2026, 4, 2, 22, 30, tzinfo=timezone.utc)  # 23:30 in London (BST)
    assert one_pass(database, scheduler_settings, night, rasa).quiet
    assert rasa.calls == [] and fake.calls == []
    morning = night.replace(hour=9)
    assert one_pass(database, scheduler_settings, morning, rasa).sent == 2


def test_two_schedulers_at_once_send_each_resident_one_checkin(database, scheduler_settings, fake):
    residents(database, 20)
    rasa = StandInRasa()
    now = T0 + timedelta(days=31)
    passes = [
        threading.Thread(target=one_pass, args=(database, scheduler_settings, now, rasa))
        for _ in range(2)
    ]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    conversations = [c[0] for c in rasa.calls]
    assert len(conversations) == 20 == len(set(conversations))
    assert len(fake.calls) == 20
    with database.transaction() as s:
        assert len(s.scalars(select(Checkin)).all()) == 20


def test_a_failed_pass_is_made_up_on_the_next_one(database, scheduler_settings, fake):
    """Rasa down for the pass at day 31: the resident still gets a check-in later, within
    the validity period (48 hours after it fell due, at day 30)."""
    residents(database, 1)
    day31 = T0 + timedelta(days=31)
    assert one_pass(database, scheduler_settings, day31, StandInRasa(ok=False)).failed == 1
    assert fake.calls == []
    later_on = T0 + timedelta(days=31, hours=23)  # 47 hours after it fell due
    later = one_pass(database, scheduler_settings, later_on, StandInRasa())
    assert (later.due, later.sent, later.skipped) == (1, 1, 0)
    with database.transaction() as s:
        checkin = s.scalars(select(Checkin)).one()  # the same period, claimed again
        assert checkin.status == "sent" and checkin.sent_at == later_on
    # The next one follows the check-in that went out, not the one that failed.
    assert one_pass(database, scheduler_settings, T0 + timedelta(days=61), StandInRasa()).due == 0
    assert one_pass(database, scheduler_settings, T0 + timedelta(days=62), StandInRasa()).sent == 1


def test_a_checkin_claimed_past_its_validity_is_expired_not_sent_late(
    database, scheduler_settings, fake
):
    """Down for more than 48 hours after it fell due (day 30): it is never sent, and the
    next one comes a rhythm after it expired."""
    residents(database, 2)  # one on Telegram, one on SMS
    rasa = StandInRasa()
    late = T0 + timedelta(days=32, seconds=1)  # 48 hours and a second after day 30
    report = one_pass(database, scheduler_settings, late, rasa)
    assert (report.due, report.sent, report.failed, report.expired) == (2, 0, 0, 2)
    assert rasa.calls == [] and fake.calls == []  # Rasa never asked, nothing sent
    with database.transaction() as s:
        assert [(c.status, c.sent_at) for c in s.scalars(select(Checkin))] == [
            ("expired", None),
            ("expired", None),
        ]
    # Not owed again: nothing until a month after it expired.
    assert one_pass(database, scheduler_settings, late + timedelta(hours=1), rasa).due == 0
    assert one_pass(database, scheduler_settings, late + timedelta(days=29), rasa).due == 0
    assert one_pass(database, scheduler_settings, late + timedelta(days=30), rasa).sent == 2


def test_a_checkin_that_failed_until_past_its_validity_expires(database, scheduler_settings, fake):
    """A provider outage: failed on day 31, failed on day 31.9, then too late on day 32.1."""
    residents(database, 1)  # on Telegram
    fake.telegram_errors["900000"] = [500] * 6  # three tries per pass, two passes
    for day in (31, 31.9):
        report = one_pass(database, scheduler_settings, T0 + timedelta(days=day), StandInRasa())
        assert report.failed == 1
    rasa = StandInRasa()
    report = one_pass(database, scheduler_settings, T0 + timedelta(days=32.1), rasa)
    assert (report.sent, report.failed, report.expired) == (0, 0, 1)
    assert rasa.calls == [] and len(fake.telegram_to("900000")) == 6
    with database.transaction() as s:
        assert s.scalars(select(Checkin.status)).all() == ["expired"]


def test_a_checkin_sms_carries_the_time_left_as_its_validity_period(
    database, scheduler_settings, fake
):
    """Twilio is told to drop it rather than deliver it after its validity ends."""
    residents(database, 2)
    now = T0 + timedelta(days=31)  # 24 hours after it fell due: 24 left, Twilio's max is 10
    one_pass(database, scheduler_settings, now, StandInRasa())
    [sms] = [c for c in fake.calls if c.provider == "twilio"]
    assert sms.params["ValidityPeriod"] == "36000"
    later = T0 + timedelta(days=31, hours=22)  # 2 hours left (the other resident's period)
    fake.calls.clear()
    with database.transaction() as s:
        for checkin in s.scalars(select(Checkin)):
            checkin.status = "failed"  # as if the provider had refused both
    one_pass(database, scheduler_settings, later, StandInRasa())
    [sms] = [c for c in fake.calls if c.provider == "twilio"]
    assert sms.params["ValidityPeriod"] == str(2 * 3600)


def test_a_trigger_that_sent_nothing_is_not_counted_as_sent(database, scheduler_settings, fake):
    """Rasa answered, but its action failed or the provider refused: not sent, tried again."""
    residents(database, 2)  # one on Telegram, one on SMS
    fake.telegram_errors["900000"] = [500, 500, 500]
    fake.twilio_errors["+447700900001"] = 30007
    now = T0 + timedelta(days=31)
    report = one_pass(database, scheduler_settings, now, StandInRasa())
    assert (report.sent, report.failed) == (0, 2)
    with database.transaction() as s:
        assert sorted(s.scalars(select(Checkin.status)).all()) == ["failed", "failed"]
        statuses = s.scalars(select(OutboundMessage.status)).all()
        assert statuses == ["failed", "failed"]
    fake.telegram_errors.clear()
    fake.twilio_errors.clear()
    assert one_pass(database, scheduler_settings, now + timedelta(hours=1), StandInRasa()).sent == 2


def test_retention_runs_on_the_first_pass_then_once_a_day(database, settings, tmp_path):
    """Days are the organisation's (London): 23:30 UTC on 2 March is still 2 March there."""
    tracker = Database(f"sqlite:///{tmp_path / 'tracker.db'}")
    with database.transaction() as s:
        resident = Resident(consent="given", created_at=T0 - timedelta(days=900))
        s.add(resident)
        s.flush()
        s.add(
            View(
                resident_id=resident.id,
                text="an old view",
                channel="sms",
                conversation_id=resident.conversation_id,
                created_at=T0 - timedelta(days=800),
            )
        )
    retention = DailyRetention(database, tracker, settings)

    def at(moment):
        return asyncio.run(retention.maybe_run(moment))

    first = at(T0)
    assert first is not None and first.counts()["view_texts"] == 1
    assert at(T0 + timedelta(hours=1)) is None
    assert at(datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc)) is None
    next_day = at(datetime(2026, 3, 3, 0, 30, tzinfo=timezone.utc))
    assert next_day is not None and next_day.total == 0
    # A restarted scheduler runs them on its first pass (a second run that day does nothing).
    assert DailyRetention(database, tracker, settings).due(T0 + timedelta(days=1, hours=2))
    with database.transaction() as s:
        audited = s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "retention.run"))
        assert audited.all() == ["scheduler", "scheduler"]
    tracker.dispose()


def test_the_scheduler_loop_offers_retention_every_pass(database, scheduler_settings):
    """run_forever asks after each check-in pass; a failed run does not stop the loop."""
    passes: list[datetime] = []

    class Retention:
        async def maybe_run(self, now):
            passes.append(now)
            if len(passes) == 1:
                raise RuntimeError("the tracker database is down")
            raise asyncio.CancelledError  # ends the loop

    loop = run_forever(database, scheduler_settings, StandInRasa(), None, interval_s=0,
                       clock=lambda: T0, retention=Retention())  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(loop)
    assert passes == [T0, T0]
