"""The notifier against the fake providers: once each, at the rate, never in quiet hours."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import bot.notifier
from bot.models import ChannelIdentity, OutboxMessage
from bot.notifier import Notifier
from bot.outbound import senders_for
from bot.services.consent import opt_out
from bot.services.delivery import record_status
from bot.services.identities import resident_at
from bot.services.outbox import MAX_ATTEMPTS, claim_due
from bot.services.updates import UpdateDraft, draft_update, publish, update_message
from tests.residents import WE_DID, YOU_SAID, numbers, published

# 10:00 in London (winter): not in the default quiet hours (21:00-08:00).
MORNING = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
TEXT = update_message(YOU_SAID, WE_DID)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def another_update(database) -> int:
    """A second update to the same residents, published; its id."""
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(
                title="Bins",
                you_said="bins are missed",
                we_did="Collections moved to Monday.",
                themes=["roads_transport"],
            ),
            created_by="test",
        )
        publish(s, update.id)
        return update.id


def drain(database, settings, clock, **kwargs):
    notifier = Notifier(database, settings, senders_for(settings), clock=clock, **kwargs)
    return asyncio.run(notifier.drain())


def statuses(database) -> dict[str, str]:
    with database.transaction() as s:
        rows = s.execute(
            select(ChannelIdentity.address, OutboxMessage.status)
            .join(OutboxMessage, OutboxMessage.resident_id == ChannelIdentity.resident_id)
            .order_by(ChannelIdentity.address)
        ).all()
        return dict(rows)


def test_everyone_is_told_once_on_their_channel(database, channel_settings, fake):
    published(database, numbers(3), ["1001", "1002"])
    report = drain(database, channel_settings, Clock(MORNING))
    assert (report.sent, report.by_channel) == (5, {"sms": 3, "telegram": 2})
    for number in numbers(3):
        assert fake.sms_to(number) == [TEXT]
    assert [m["text"] for m in fake.telegram_to("1001")] == [TEXT]
    with database.transaction() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        assert {r.status for r in rows} == {"sent"}
        assert all(r.provider_id and r.sent_at == MORNING for r in rows)
    assert drain(database, channel_settings, Clock(MORNING)).sent == 0  # nothing twice
    assert len(fake.accepted_sms()) == 3


def test_nothing_is_sent_in_quiet_hours(database, channel_settings, fake):
    published(database, numbers(2))
    night = datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc)
    assert drain(database, channel_settings, Clock(night)).quiet
    assert fake.calls == [] and set(statuses(database).values()) == {"queued"}
    assert drain(database, channel_settings, Clock(MORNING)).sent == 2


def test_a_resident_who_stopped_after_publish_is_skipped(database, channel_settings, fake):
    published(database, numbers(2))
    with database.transaction() as s:
        opt_out(s, resident_at(s, "sms", numbers(2)[0]), channel="sms")
    assert drain(database, channel_settings, Clock(MORNING)).sent == 1
    assert fake.sms_to(numbers(2)[0]) == []
    assert statuses(database)[numbers(2)[0]] == "opted_out"


def test_busy_providers_are_retried_after_a_backoff(database, channel_settings, fake):
    published(database, numbers(1), ["1001"])
    fake.twilio_statuses[numbers(1)[0]] = [503]
    fake.telegram_errors["1001"] = [429]  # retry_after 1 s
    clock = Clock(MORNING)
    report = drain(database, channel_settings, clock)
    assert (report.sent, report.retrying) == (0, 2)
    with database.transaction() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        assert {(r.status, r.error_code) for r in rows} == {("queued", "20500"), ("queued", "429")}
        assert all(r.next_attempt_at == MORNING + timedelta(seconds=30) for r in rows)
    clock.now = MORNING + timedelta(seconds=29)
    assert drain(database, channel_settings, clock).sent == 0  # not yet
    clock.now = MORNING + timedelta(seconds=30)
    assert drain(database, channel_settings, clock).sent == 2
    assert len(fake.accepted_sms()) == 1 and len(fake.telegram_to("1001")) == 2


def test_gives_up_after_the_last_attempt(database, channel_settings, fake):
    published(database, numbers(1))
    fake.twilio_statuses[numbers(1)[0]] = [500] * MAX_ATTEMPTS
    clock = Clock(MORNING)
    for _ in range(MAX_ATTEMPTS):
        drain(database, channel_settings, clock)
        clock.now += timedelta(hours=2)  # the longest backoff; 10:00 to 20:00, not quiet
    assert statuses(database) == {numbers(1)[0]: "failed"}
    assert drain(database, channel_settings, clock).sent == 0


def test_permanent_refusals_are_final(database, channel_settings, fake):
    stopped, blocked = numbers(1)[0], "1001"
    published(database, [stopped], [blocked])
    fake.twilio_errors[stopped] = 21610
    fake.telegram_errors[blocked] = [403]
    report = drain(database, channel_settings, Clock(MORNING))
    assert report.failed == 2
    assert statuses(database) == {blocked: "failed", stopped: "opted_out"}
    with database.transaction() as s:
        assert resident_at(s, "sms", stopped).opted_out_at is not None
        identity = s.scalars(
            select(ChannelIdentity).where(ChannelIdentity.address == blocked)
        ).one()
        assert identity.unreachable_at is not None
    assert drain(database, channel_settings, Clock(MORNING + timedelta(hours=1))).sent == 0


def test_a_send_left_in_doubt_by_a_crash_is_not_sent_twice_by_sms(database, channel_settings, fake):
    published(database, numbers(2))
    # A worker claimed both rows and sent the first, then died before recording anything.
    with database.transaction() as s:
        claimed = claim_due(s, "sms", MORNING, 10, timedelta(seconds=60)).items
    sender = senders_for(channel_settings)["sms"]

    async def send_first() -> None:
        await sender.send(claimed[0].address, claimed[0].text)
        await sender.close()

    asyncio.run(send_first())
    # Within the lease nobody touches them; after it, they are checked with Twilio first.
    assert drain(database, channel_settings, Clock(MORNING + timedelta(seconds=30))).sent == 0
    report = drain(database, channel_settings, Clock(MORNING + timedelta(seconds=61)))
    assert (report.sent, report.reconciled) == (2, 1)
    assert sorted(c.params["To"] for c in fake.accepted_sms()) == numbers(2)


def test_a_telegram_send_in_doubt_is_sent_again(database, channel_settings, fake):
    """The Bot API cannot list sent messages: in doubt, resending beats losing it."""
    published(database, [], ["1001"])
    with database.transaction() as s:
        claim_due(s, "telegram", MORNING, 10, timedelta(seconds=60))
    report = drain(database, channel_settings, Clock(MORNING + timedelta(seconds=61)))
    assert (report.sent, report.resent_in_doubt) == (1, 1)


def test_sends_are_spaced_by_the_rate_limit(database, channel_settings, fake):
    published(database, numbers(8))
    started = time.monotonic()  # the fake's clock
    drain(database, replace(channel_settings, sms_per_second=10.0), Clock(MORNING))
    times = [c.at for c in fake.accepted_sms()]
    assert len(times) == 8
    # The limiter gives the k-th send a slot k intervals after the first, which comes after
    # the drain began. Not measured from the first arrival: the first send of a process
    # also makes the provider's client, and the sends whose slots passed meanwhile follow
    # it at once (the rate holds from the first slot). Unlimited, all 8 take under 0.5 s.
    assert times[-1] - started >= 7 / 10


def test_telegram_sends_at_most_one_per_chat_per_second(database, channel_settings, fake):
    first = published(database, [], ["1001"])
    assert len({first, another_update(database), another_update(database)}) == 3
    started = time.monotonic()  # the fake's clock
    drain(database, replace(channel_settings, telegram_per_chat_per_second=2.0), Clock(MORNING))
    sends = [c.at for c in fake.calls if c.method == "sendMessage"]
    # Slots 0.5 s apart from the first, which comes after the drain began (measured as in
    # the test above, not from the first arrival). Unlimited, the three take under 0.4 s.
    assert len(sends) == 3 and sends[-1] - started >= 2 * 0.5


def test_outcomes_whose_write_failed_are_kept_and_written_later(
    database, channel_settings, fake, monkeypatch
):
    published(database, numbers(6))
    writes: list[int] = []
    real_write = bot.notifier._write

    def write_failing_once(session, outcomes, now):  # type: ignore[no-untyped-def]
        writes.append(len(outcomes))
        if len(writes) == 1:
            raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))
        real_write(session, outcomes, now)

    monkeypatch.setattr(bot.notifier, "_write", write_failing_once)
    notifier = Notifier(
        database, channel_settings, senders_for(channel_settings), clock=Clock(MORNING)
    )

    async def drain_until_recorded() -> None:
        try:
            await notifier.drain()
        except OperationalError:  # the drain's own last write failed: the next drain writes
            await notifier.drain()

    asyncio.run(drain_until_recorded())
    assert len(writes) >= 2
    assert set(statuses(database).values()) == {"sent"}
    accepted = fake.accepted_sms()
    assert sorted(c.params["To"] for c in accepted) == numbers(6)  # none sent twice
    with database.transaction() as s:
        recorded = dict(s.execute(select(OutboxMessage.id, OutboxMessage.provider_id)).all())
    assert sorted(recorded.values()) == sorted(c.sid for c in accepted)


def test_a_drain_whose_writes_fail_raises_only_when_every_channel_is_done_and_loses_nothing(
    database, channel_settings, fake, monkeypatch
):
    published(database, numbers(4), ["1001", "1002"])
    another_update(database)  # so Telegram waits 0.5 s per chat before its second message
    real_write, database_down = bot.notifier._write, [True]

    def write_unless_down(session, outcomes, now):  # type: ignore[no-untyped-def]
        if database_down[0]:
            raise OperationalError("UPDATE outbox", {}, Exception("disk I/O error"))
        real_write(session, outcomes, now)

    monkeypatch.setattr(bot.notifier, "_write", write_unless_down)
    settings = replace(channel_settings, telegram_per_chat_per_second=2.0)
    notifier = Notifier(database, settings, senders_for(settings), clock=Clock(MORNING))

    async def fail_then_recover() -> tuple[set[str], int]:
        with pytest.raises(OperationalError):  # SMS's last write fails long before Telegram ends
            await notifier.drain()
        left = {t.get_coro().__qualname__ for t in asyncio.all_tasks()}
        database_down[0] = False
        return left, (await notifier.drain()).sent

    left_running, sent_again = asyncio.run(fail_then_recover())
    assert not left_running & {"Notifier._drain_channel", "Notifier._deliver"}
    assert sent_again == 0  # nothing sent twice: the outcomes were kept and written
    assert set(statuses(database).values()) == {"sent"}
    assert sorted(c.params["To"] for c in fake.accepted_sms()) == sorted(numbers(4) * 2)
    assert [len(fake.telegram_to(chat)) for chat in ("1001", "1002")] == [2, 2]


def test_two_workers_at_once_tell_everyone_once(database, channel_settings, fake):
    published(database, numbers(40))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            drain(database, channel_settings, Clock(MORNING))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sorted(c.params["To"] for c in fake.accepted_sms()) == numbers(40)
    assert set(statuses(database).values()) == {"sent"}


def test_delivery_reports_reach_the_outbox(database, channel_settings, fake):
    published(database, numbers(2))
    drain(database, channel_settings, Clock(MORNING))
    sid_to = {c.params["To"]: c.sid for c in fake.accepted_sms()}  # sent at once: any order
    delivered, failed = sid_to[numbers(2)[0]], sid_to[numbers(2)[1]]
    with database.transaction() as s:
        assert record_status(s, "sms", delivered, "delivered", None)
        assert record_status(s, "sms", failed, "undelivered", "30003")
    assert statuses(database) == {numbers(2)[0]: "delivered", numbers(2)[1]: "failed"}


def test_a_resident_erased_while_an_update_is_queued_is_sent_nothing(
    database, channel_settings, fake
):
    from bot.erasure import Eraser

    kept, gone = numbers(2)
    published(database, [kept, gone])
    with database.transaction() as s:
        erased = resident_at(s, "sms", gone).id
    Eraser(database, database, "dnc-key").erase(erased, actor="cli:dpo")
    assert drain(database, channel_settings, Clock(MORNING)).sent == 1
    assert fake.sms_to(gone) == [] and len(fake.sms_to(kept)) == 1
    with database.transaction() as s:
        assert erased not in s.scalars(select(OutboxMessage.resident_id)).all()
