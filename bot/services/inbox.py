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

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import open_transaction
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


# The statements of every turn are built once, in SQLAlchemy Core: building one costs
# more CPU than SQLite takes to run it, and the ORM's layer as much again (docs/BENCHMARKS.md,
# issue 14); the values are bound when they run.
_INBOX = InboxMessage.__table__
_RESIDENTS = Resident.__table__
_FREE = or_(_INBOX.c.claimed_until.is_(None), _INBOX.c.claimed_until < bindparam("now"))
_DUE = or_(_INBOX.c.next_attempt_at.is_(None), _INBOX.c.next_attempt_at <= bindparam("now"))
_HEADS = (
    select(func.min(_INBOX.c.id)).where(_INBOX.c.status.in_(OPEN)).group_by(_INBOX.c.resident_id)
)
_CLAIMABLE = (
    select(_INBOX.c.id)
    .where(_INBOX.c.id.in_(_HEADS), _INBOX.c.status.in_(OPEN), _FREE, _DUE)
    .order_by(_INBOX.c.id)
    .limit(bindparam("limit"))
)
# Checked again in the UPDATE: of two workers that picked the same head, one takes it.
_CLAIM = (
    update(_INBOX)
    .where(_INBOX.c.id.in_(bindparam("ids", expanding=True)), _INBOX.c.status.in_(OPEN), _FREE)
    .values(
        claim_token=bindparam("token"),
        claimed_until=bindparam("until"),
        attempts=_INBOX.c.attempts + 1,
    )
)
_CLAIMED = (
    select(
        _INBOX.c.id,
        _INBOX.c.channel,
        _INBOX.c.text,
        _INBOX.c.status,
        _INBOX.c.attempts,
        _INBOX.c.replies,
        _RESIDENTS.c.conversation_id,
    )
    .join(_RESIDENTS, _RESIDENTS.c.id == _INBOX.c.resident_id)
    .where(_INBOX.c.claim_token == bindparam("token"))
    .order_by(_INBOX.c.id)
)
# A resident's open messages other than the one just accepted (claimed at once only if none).
_OTHER_OPEN = (
    select(_INBOX.c.id)
    .where(
        _INBOX.c.resident_id == bindparam("resident_id"),
        _INBOX.c.status.in_(OPEN),
        _INBOX.c.id != bindparam("inbox_id"),
    )
    .limit(1)
)
# Any open message due that no worker holds: one waiting behind a resident's message in
# flight, or one that arrived during the claim. (A retry not yet due is found by the poll:
# counted here, one message failing for hours would wake the loop after every turn.)
_UNCLAIMED = select(_INBOX.c.id).where(_INBOX.c.status.in_(OPEN), _FREE, _DUE).limit(1)
_FENCED = and_(_INBOX.c.id == bindparam("inbox_id"), _INBOX.c.claim_token == bindparam("token"))
_PROCESSED = (
    update(_INBOX)
    .where(_FENCED, _INBOX.c.status == InboxStatus.PENDING)
    .values(
        status=InboxStatus.REPLYING,
        replies=bindparam("new_replies"),
        processed_at=bindparam("now"),
        error=None,
    )
)
_DONE = (
    update(_INBOX)
    .where(_FENCED)
    .values(status=InboxStatus.DONE, replies=None, claim_token=None, claimed_until=None)
)


def claim_next(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` residents' oldest open messages that are due, oldest first."""
    ids = session.scalars(_CLAIMABLE, {"now": now, "limit": limit}).all()
    if not ids:
        return []
    token = uuid.uuid4().hex
    session.execute(_CLAIM, {"ids": ids, "now": now, "token": token, "until": now + lease})
    rows = session.execute(_CLAIMED, {"token": token}).all()
    return [
        Claimed(
            inbox_id=row.id,
            token=token,
            conversation_id=row.conversation_id,
            channel=row.channel,
            text=row.text,
            status=InboxStatus(row.status),
            attempts=row.attempts,
            replies=json.loads(row.replies) if row.replies else [],
        )
        for row in rows
    ]


def claim_accepted(
    session: Session,
    inbox_id: int,
    resident_id: int,
    conversation_id: str,
    channel: str,
    text: str,
    now: datetime,
    lease: timedelta,
) -> Claimed | None:
    """Claim a message in the transaction that accepted it (its resident's row locked, so
    that two of theirs accepted at once take turns), unless another of its resident's
    messages is open (in flight, waiting or retrying): that one goes first."""
    if session.scalar(_OTHER_OPEN, {"resident_id": resident_id, "inbox_id": inbox_id}):
        return None
    token = uuid.uuid4().hex
    session.execute(_CLAIM, {"ids": [inbox_id], "now": now, "token": token, "until": now + lease})
    return Claimed(
        inbox_id=inbox_id,
        token=token,
        conversation_id=conversation_id,
        channel=channel,
        text=text,
        status=InboxStatus.PENDING,
        attempts=1,
        replies=[],
    )


def any_unclaimed(session: Session, now: datetime) -> bool:
    """Whether an open message that is due is left that no worker holds (asked after a
    claim)."""
    return session.scalar(_UNCLAIMED, {"now": now}) is not None


def mark_processed(
    session: Session, item: Claimed, replies: list[dict[str, Any]], now: datetime
) -> bool:
    """Rasa processed it: keep its replies until they are sent. False if the claim was lost."""
    result = session.execute(
        _PROCESSED,
        {
            "inbox_id": item.inbox_id,
            "token": item.token,
            "new_replies": json.dumps(replies),
            "now": now,
        },
    )
    return result.rowcount == 1


def mark_done(session: Session, item: Claimed) -> None:
    """Its replies have been handed to the senders: the message is finished."""
    session.execute(_DONE, {"inbox_id": item.inbox_id, "token": item.token})


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
    open_transaction(session)
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
