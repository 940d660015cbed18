"""Send slots shared by every process that sends as one identity (a number, a bot).

The next free slot of each identity is one row: a process takes `count` slots with one
short locked UPDATE and sends at them, so the notifier, the scheduler and the replies
together never send faster than the identity's rate, however many processes there are.
"""

from __future__ import annotations

import time

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import SendSlot


def _ensure_row(session: Session, identity: str) -> None:
    """The identity's row, made if it is the first use (two processes may both try)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(
        insert(SendSlot).values(identity=identity, next_at=0.0).on_conflict_do_nothing()
    )


def reserve(
    session: Session, identity: str, count: int, interval: float, now: float | None = None
) -> float:
    """Take `count` slots `interval` seconds apart; returns when the first is (epoch seconds).

    `now` defaults to the time once the lock is held: a reservation that waited for the
    lock must not hand out slots that went by while it waited (they would all be sent at
    once).
    """
    _ensure_row(session, identity)
    # SQLite ignores FOR UPDATE: this write takes its one write lock first (and the row's
    # lock on PostgreSQL), so no other process reads next_at until this one has committed.
    session.execute(
        update(SendSlot).where(SendSlot.identity == identity).values(next_at=SendSlot.next_at)
    )
    if now is None:
        now = time.time()
    row = session.scalars(
        select(SendSlot).where(SendSlot.identity == identity).with_for_update()
    ).one()
    start = max(row.next_at, now)
    row.next_at = start + count * interval
    return start
