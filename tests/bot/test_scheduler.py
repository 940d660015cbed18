"""Scheduler passes: quiet hours, one check-in per period even with two schedulers at once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.models import Checkin
from bot.scheduler import run_once
from bot.services.consent import record_consent
from bot.services.identities import conversation_for, resident_at
from bot.settings import Settings
from bot.timing import RateLimiter

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
SETTINGS = Settings.from_env({"CHECKIN_JITTER_MINUTES": "0"})


class RecordingRasa:
    """Stands in for Rasa's trigger_intent (the e2e tests use the real one)."""

    def __init__(self, ok: bool = True) -> None:
        self.calls: list[tuple[str, str, str, dict]] = []
        self.ok = ok
        self._lock = threading.Lock()

    def __call__(self, conversation_id, channel, intent, entities) -> bool:
        with self._lock:
            self.calls.append((conversation_id, channel, intent, entities))
        return self.ok


def residents(database, count: int) -> None:
    with database.transaction() as s:
        for n in range(count):
            channel = "sms" if n % 2 else "telegram"
            address = f"+4477009{n:05d}" if channel == "sms" else str(900000 + n)
            conversation_for(s, channel, address)
            resident = resident_at(s, channel, address)
            resident.created_at = T0
            record_consent(s, resident, given=True, wording="w", channel=channel)


def no_wait() -> dict[str, RateLimiter]:
    return {c: RateLimiter(1e6, sleep=lambda _: None) for c in ("sms", "telegram")}


def test_a_pass_opens_each_due_conversation_on_its_channel(database):
    residents(database, 4)
    rasa = RecordingRasa()
    report = run_once(database, SETTINGS, T0 + timedelta(days=31), rasa, no_wait())
    assert (report.due, report.sent, report.failed) == (4, 4, 0)
    assert {c[1] for c in rasa.calls} == {"sms", "telegram"}
    assert all(c[2] == "start_checkin" and c[3]["checkin_id"].isdigit() for c in rasa.calls)
    # The same pass again, or a restart: nothing more this period.
    again = run_once(database, SETTINGS, T0 + timedelta(days=31, hours=1), rasa, no_wait())
    assert again.sent == 0 and len(rasa.calls) == 4


def test_nothing_is_sent_in_quiet_hours(database):
    residents(database, 2)
    rasa = RecordingRasa()
    night = datetime(2026, 4, 2, 22, 30, tzinfo=timezone.utc)  # 23:30 in London (BST)
    assert run_once(database, SETTINGS, night, rasa, no_wait()).quiet
    assert rasa.calls == []
    morning = night.replace(hour=9)
    assert run_once(database, SETTINGS, morning, rasa, no_wait()).sent == 2


def test_two_schedulers_at_once_send_each_resident_one_checkin(database):
    residents(database, 20)
    rasa = RecordingRasa()
    now = T0 + timedelta(days=31)
    passes = [
        threading.Thread(target=run_once, args=(database, SETTINGS, now, rasa, no_wait()))
        for _ in range(2)
    ]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    conversations = [c[0] for c in rasa.calls]
    assert len(conversations) == 20 == len(set(conversations))
    with database.transaction() as s:
        assert len(s.scalars(select(Checkin)).all()) == 20


def test_a_refused_trigger_is_not_retried_in_the_same_period(database):
    residents(database, 1)
    rasa = RecordingRasa(ok=False)
    now = T0 + timedelta(days=31)
    assert run_once(database, SETTINGS, now, rasa, no_wait()).failed == 1
    assert run_once(database, SETTINGS, now, RecordingRasa(), no_wait()).sent == 0
    with database.transaction() as s:
        assert s.scalars(select(Checkin.status)).all() == ["failed"]
