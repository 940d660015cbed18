"""A notifier's claim takes at most its batch, so several notifiers share a fan-out (issue 14).

On PostgreSQL the claim once ran as one UPDATE whose `IN (SELECT ... LIMIT n FOR UPDATE SKIP
LOCKED)` was re-run for every row and skipped the rows the UPDATE had just changed: it
claimed every due row, and a second notifier found nothing to send.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bot.models import OutboxMessage
from bot.services.outbox import claim_due
from tests.residents import numbers, published

LEASE = timedelta(seconds=60)


def test_a_claim_takes_at_most_its_batch(database):
    published(database, numbers(100))
    now = datetime.now(timezone.utc)
    with database.transaction() as s:
        first = claim_due(s, "sms", now, 40, LEASE)
    with database.transaction() as s:
        second = claim_due(s, "sms", now, 40, LEASE)
        third = claim_due(s, "sms", now, 40, LEASE)
    assert (len(first.items), len(second.items), len(third.items)) == (40, 40, 20)
    claimed = [item.outbox_id for c in (first, second, third) for item in c.items]
    assert len(set(claimed)) == 100
    with database.transaction() as s:
        assert s.scalar(select(func.count()).where(OutboxMessage.status == "sending")) == 100


def test_two_workers_claiming_at_once_share_the_rows(database):
    """On PostgreSQL both transactions are open at once (SKIP LOCKED); SQLite takes turns."""
    published(database, numbers(30))
    now = datetime.now(timezone.utc)
    concurrent = database.engine.dialect.name == "postgresql"
    with database.transaction() as one:
        mine = claim_due(one, "sms", now, 20, LEASE)
        if concurrent:
            with database.transaction() as two:
                theirs = claim_due(two, "sms", now, 20, LEASE)
    if not concurrent:
        with database.transaction() as two:
            theirs = claim_due(two, "sms", now, 20, LEASE)
    assert (len(mine.items), len(theirs.items)) == (20, 10)
    assert not {i.outbox_id for i in mine.items} & {i.outbox_id for i in theirs.items}
