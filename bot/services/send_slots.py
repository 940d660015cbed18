"""Send slots shared by every process that sends as one identity (a number, a bot).

The next free slot of each identity is one row: a process takes `count` slots with one
short locked UPDATE and sends at them, so the notifier, the scheduler and the replies
together never send faster than the identity's rate, however many processes there are.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import SendSlot


def reserve(session: Session, identity: str, count: int, interval: float, now: float) -> float:
    """Take `count` slots `interval` seconds apart; returns when the first is (epoch seconds)."""
    # SQLite ignores FOR UPDATE: this write takes its one write lock first (and the row's
    # lock on PostgreSQL), so no other process reads next_at until this one has committed.
    session.execute(
        update(SendSlot).where(SendSlot.identity == identity).values(next_at=SendSlot.next_at)
    )
    row = session.scalars(
        select(SendSlot).where(SendSlot.identity == identity).with_for_update()
    ).one_or_none()
    if row is None:
        try:
            with session.begin_nested():
                row = SendSlot(identity=identity, next_at=now)
                session.add(row)
        except IntegrityError:  # another process made it first
            row = session.scalars(
                select(SendSlot).where(SendSlot.identity == identity).with_for_update()
            ).one()
    start = max(row.next_at, now)
    row.next_at = start + count * interval
    return start
