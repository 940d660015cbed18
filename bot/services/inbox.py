"""The inbox worker's side of the inbox: claim each resident's oldest open message, settle it.

A message moves pending -> replying (Rasa processed it; its replies are kept) -> done,
or back to pending with a later `next_attempt_at` when processing failed, or to failed
after GIVE_UP of failures. Only a resident's oldest open message can be claimed, so a
resident's messages are processed one at a time and in order, by whichever worker;
every write after the claim is fenced by the claim token.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.models import InboxMessage, InboxStatus, Resident

OPEN = (InboxStatus.PENDING, InboxStatus.REPLYING)
BACKOFF_S = (1, 2, 5, 10, 30)  # after attempt 1, 2, ...; then every MAX_BACKOFF_S
MAX_BACKOFF_S = 60
GIVE_UP = timedelta(hours=24)


@dataclass(frozen=True)
class Claimed:
    """An inbox message this worker now owns."""

    inbox_id: int
    token: str
    conversation_id: str
    channel: str
    text: str
    status: InboxStatus  # PENDING: hand it to Rasa; REPLYING: only its replies are left to send
    attempts: int  # including this one
    replies: list[dict[str, Any]]
    may_reply_to_update: bool = True  # False: its turn can leave the update check out


@dataclass(frozen=True)
class Depth:
    """How much is waiting in the inbox."""

    open: int
    oldest: datetime | None


def claim_next(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` residents' oldest open messages that are due, oldest first."""
    heads = (
        select(func.min(InboxMessage.id))
        .where(InboxMessage.status.in_(OPEN))
        .group_by(InboxMessage.resident_id)
    )
    free = or_(InboxMessage.claimed_until.is_(None), InboxMessage.claimed_until < now)
    due = or_(InboxMessage.next_attempt_at.is_(None), InboxMessage.next_attempt_at <= now)
    ids = session.scalars(
        select(InboxMessage.id)
        .where(InboxMessage.id.in_(heads), InboxMessage.status.in_(OPEN), free, due)
        .order_by(InboxMessage.id)
        .limit(limit)
    ).all()
    if not ids:
        return []
    token = uuid.uuid4().hex
    # Checked again in the UPDATE: of two workers that picked the same head, one takes it.
    session.execute(
        update(InboxMessage)
        .where(InboxMessage.id.in_(ids), InboxMessage.status.in_(OPEN), free)
        .values(
            claim_token=token,
            claimed_until=now + lease,
            attempts=InboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(InboxMessage, Resident.conversation_id)
        .join(Resident, Resident.id == InboxMessage.resident_id)
        .where(InboxMessage.claim_token == token)
        .order_by(InboxMessage.id)
    ).all()
    return [
        Claimed(
            inbox_id=row.id,
            token=token,
            conversation_id=conversation_id,
            channel=row.channel,
            text=row.text,
            status=InboxStatus(row.status),
            attempts=row.attempts,
            replies=json.loads(row.replies) if row.replies else [],
        )
        for row, conversation_id in rows
    ]


def _fenced(item: Claimed) -> ColumnElement[bool]:
    return and_(InboxMessage.id == item.inbox_id, InboxMessage.claim_token == item.token)


def mark_processed(
    session: Session, item: Claimed, replies: list[dict[str, Any]], now: datetime
) -> bool:
    """Rasa processed it: keep its replies until they are sent. False if the claim was lost."""
    result = session.execute(
        update(InboxMessage)
        .where(_fenced(item), InboxMessage.status == InboxStatus.PENDING)
        .values(
            status=InboxStatus.REPLYING, replies=json.dumps(replies), processed_at=now, error=None
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def mark_done(session: Session, item: Claimed) -> None:
    """Its replies have been handed to the senders: the message is finished."""
    session.execute(
        update(InboxMessage)
        .where(_fenced(item))
        .values(status=InboxStatus.DONE, replies=None, claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


def backoff(attempts: int) -> timedelta:
    """How long to wait before trying a message again after `attempts` failures."""
    index = attempts - 1
    return timedelta(seconds=BACKOFF_S[index] if index < len(BACKOFF_S) else MAX_BACKOFF_S)


def mark_retry(session: Session, item: Claimed, error: str, now: datetime) -> str:
    """Processing failed: try again later, or give up after GIVE_UP. Returns the new status."""
    row = session.get(InboxMessage, item.inbox_id)
    if row is None or row.claim_token != item.token:
        return "lost"
    row.error = error[:64]
    row.claim_token = None
    row.claimed_until = None
    if now - row.received_at >= GIVE_UP:
        row.status = InboxStatus.FAILED
    else:
        row.next_attempt_at = now + backoff(item.attempts)
    return row.status


def made_from(session: Session, model: Any, inbox_id: int | None) -> Any:
    """The row of `model` already made from inbox message `inbox_id`, if there is one."""
    if inbox_id is None:
        return None
    return session.scalars(select(model).where(model.inbox_id == inbox_id)).first()


def add_once(session: Session, row: Any) -> tuple[Any, bool]:
    """Add a row made from an inbox message: (it, True), or (the one another turn made, False).

    A turn that Rasa runs again after a failure, or at the same moment after a timeout,
    makes the same row twice: the row's unique `inbox_id` keeps one.
    """
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = made_from(session, type(row), row.inbox_id)
        if existing is None:
            raise
        return existing, False
    return row, True


def depth(session: Session) -> Depth:
    """The number of open messages and when the oldest arrived."""
    is_open = InboxMessage.status.in_(OPEN)
    count = session.scalar(select(func.count(InboxMessage.id)).where(is_open))
    oldest = session.scalars(
        select(InboxMessage.received_at).where(is_open).order_by(InboxMessage.id).limit(1)
    ).first()
    return Depth(open=count or 0, oldest=oldest)
