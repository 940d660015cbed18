"""The notifier, the scheduler and the replies sending on one number at once, as three
processes would (each its own event loop and limiter, sharing only the database), never
go over SMS_PER_SECOND in any second."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import timedelta

from bot.outbound import Outbound, senders_for
from bot.scheduler import run_once
from bot.services.identities import resident_at
from tests.bot.test_notifier import MORNING, Clock, drain
from tests.bot.test_scheduler import StandInRasa
from tests.residents import add_resident, numbers, published

RATE = 5.0
EACH = 6  # messages each of the three sends


def test_notifier_scheduler_and_replies_share_one_rate(database, channel_settings, fake):
    settings = replace(channel_settings, sms_per_second=RATE, checkin_jitter_minutes=0)
    published(database, numbers(EACH))  # the notifier's share
    due, replying = numbers(3 * EACH)[EACH : 2 * EACH], numbers(3 * EACH)[2 * EACH :]
    with database.transaction() as s:
        for number in due + replying:
            # joined a month before MORNING: a check-in is due; at MORNING: not due yet
            joined = MORNING - timedelta(days=31) if number in due else MORNING
            add_resident(s, "sms", number, joined=joined)
    with database.transaction() as s:
        conversations = [resident_at(s, "sms", n).conversation_id for n in replying]

    def scheduler() -> None:
        outbound = Outbound(database, settings, senders_for(settings), clock=lambda: MORNING)

        async def _pass():  # type: ignore[no-untyped-def]
            try:
                return await run_once(database, settings, MORNING, StandInRasa(), outbound)
            finally:
                await outbound.close()

        assert asyncio.run(_pass()).sent == EACH

    def replies() -> None:
        outbound = Outbound(database, settings, senders_for(settings), clock=lambda: MORNING)

        async def _all() -> None:
            for conversation in conversations:
                reply = [{"recipient_id": conversation, "text": "Thanks, noted."}]
                assert (await outbound.deliver(conversation, "sms", reply)).sent == 1
            await outbound.close()

        asyncio.run(_all())

    workers = [
        threading.Thread(target=drain, args=(database, settings, Clock(MORNING))),
        threading.Thread(target=scheduler),
        threading.Thread(target=replies),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    times = sorted(call.at for call in fake.accepted_sms())
    assert len(times) == 3 * EACH
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    # The send slots are RATE a second between them all (three unshared limiters would
    # send 3 x RATE); a send that left late (the first also opens its connection) can
    # fall into the next second beside that second's own.
    assert busiest <= RATE + 2
    assert times[-1] - times[0] >= (3 * EACH - 3) / RATE
