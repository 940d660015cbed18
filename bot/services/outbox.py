"""The notifier's side of the outbox: claim what is due, then record how each send went.

A row moves queued -> sending (claimed) -> sent, or back to queued to retry later, or to
failed / opted_out / expired. A claim is one UPDATE, so two workers never claim the same
row. A row left in "sending" by a worker that died is claimed again once its lease has run
out, and marked in doubt: the provider may or may not have taken it.

Every write after a send is fenced by the claim's token: a worker whose lease ran out
while it was sending (and whose row another worker has claimed since) changes nothing;
its late write is dropped and logged. A message not sent within its validity period
(MESSAGE_VALIDITY_HOURS after it was queued) is expired, never sent late.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.models import ChannelIdentity, OutboxMessage, OutboxStatus, Resident, Stage, Update
from bot.services.delivery import Sent, recipient_refused, record_sent
from bot.services.identities import (
    chunks,
    reachable_channel,
    reachable_identities,
)
from bot.services.updates import update_message

logger = logging.getLogger(__name__)

IN_DOUBT = "in_doubt"  # error_code of a row whose last send may have gone through
MAX_ATTEMPTS = 6
BACKOFF_S = (30, 120, 600, 1800, 7200)  # after attempt 1, 2, 3, ...
DEFAULT_VALIDITY = timedelta(hours=48)  # Settings.message_validity_hours


@dataclass(frozen=True)
class Claimed:
    """A notification this worker now owns, ready to send."""

    outbox_id: int
    resident_id: int
    channel: str
    address: str
    text: str
    in_doubt: bool  # a send may already have reached the provider
    queued_at: datetime
    claim_token: str  # fences every write about it: see the module docstring
    valid_until: datetime  # not sent from this moment on (expired)


@dataclass(frozen=True)
class Claim:
    """What one claim took: `taken` rows under `token`, of which `items` are to send."""

    token: str
    taken: int  # includes rows closed at claim time (opted out, unreachable, moved, expired)
    items: list[Claimed]
    expired: int = 0  # of `taken`, closed as expired


def _due(now: datetime, lease: timedelta) -> ColumnElement:
    return or_(
        and_(
            OutboxMessage.status == OutboxStatus.QUEUED,
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        ),
        and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_at < now - lease),
    )


def claim_due(
    session: Session,
    channel: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    skip_claims: Collection[str] = (),
    validity: timedelta = DEFAULT_VALIDITY,
) -> Claim:
    """Claim up to `limit` due rows on `channel` (oldest first), none held by `skip_claims`.

    Rows whose resident opted out, or can no longer be reached, are closed here instead of
    being returned, and so are rows queued more than `validity` ago (expired: an update
    queued before a long outage is not sent days later). `skip_claims` lets a worker claim
    ahead while its earlier claims are still being sent, whatever the lease.
    """
    token = uuid.uuid4().hex
    due_ids = (
        select(OutboxMessage.id)
        .where(OutboxMessage.channel == channel, _due(now, lease))
        .order_by(OutboxMessage.id)
    )
    if skip_claims:
        due_ids = due_ids.where(
            or_(OutboxMessage.claim_token.is_(None), OutboxMessage.claim_token.not_in(skip_claims))
        )
    due_ids = due_ids.limit(limit)
    picked: Any = due_ids.scalar_subquery()
    if session.get_bind().dialect.name == "postgresql":
        # The rows are picked and locked first, in their own statement: as a subquery of
        # the UPDATE, PostgreSQL re-runs the LIMIT for each row (a nested-loop semi-join)
        # and skips the rows this UPDATE has just changed, so it claimed far more than
        # `limit` (every due row), and a second worker found nothing to share.
        picked = session.scalars(due_ids.with_for_update(skip_locked=True)).all()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(picked), _due(now, lease))
        .values(
            status=OutboxStatus.SENDING,
            claimed_at=now,
            claim_token=token,
            attempts=OutboxMessage.attempts + 1,
            error_code=case(
                (OutboxMessage.status == OutboxStatus.SENDING, IN_DOUBT),
                else_=OutboxMessage.error_code,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(OutboxMessage, Resident)
        .join(Resident, Resident.id == OutboxMessage.resident_id)
        .where(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claim_token == token)
        .order_by(OutboxMessage.id)
    ).all()
    messages: dict[int, str] = {}
    claimed = []
    expired = 0
    found = reachable_identities(session, [resident.id for _, resident in rows], (channel,))
    addresses = {resident_id: address for resident_id, (_, address) in found.items()}
    for row, resident in rows:
        if resident.opted_out_at is not None or not resident.contact_ok:
            row.status = OutboxStatus.OPTED_OUT
            continue
        if now >= row.created_at + validity:
            row.status = OutboxStatus.EXPIRED
            expired += 1
            continue
        address = addresses.get(resident.id)
        if address is None:
            # Closed on this channel: moved to another reachable channel (whose worker loop
            # will claim it), or failed if there is none.
            moved_to = reachable_channel(session, resident)
            if moved_to is None:
                row.status, row.error_code = OutboxStatus.FAILED, "unreachable"
            else:
                row.status, row.channel = OutboxStatus.QUEUED, moved_to
            continue
        if row.update_id not in messages:
            update_row = session.get(Update, row.update_id)
            messages[row.update_id] = update_message(
                update_row.you_said, update_row.we_did, coming=update_row.stage == Stage.COMING
            )
        claimed.append(
            Claimed(
                outbox_id=row.id,
                resident_id=row.resident_id,
                channel=row.channel,
                address=address,
                text=messages[row.update_id],
                in_doubt=row.error_code in (IN_DOUBT, "timeout"),
                queued_at=row.created_at,
                claim_token=token,
                valid_until=row.created_at + validity,
            )
        )
    session.flush()
    return Claim(token=token, taken=len(rows), items=claimed, expired=expired)


def _ours(token: str) -> ColumnElement:
    """The fence: the row is still in the claim `token` (no other worker has taken it)."""
    return and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claim_token == token)


def _dropped(outbox_id: int, what: str) -> None:
    """Log a late write that was dropped (ids only: no personal data)."""
    logger.info(
        "Outbox row %d: a late %s was dropped; the row's claim has been taken over since.",
        outbox_id,
        what,
    )


def _claimed_row(session: Session, outbox_id: int, token: str, what: str) -> Row | None:
    """The row's resident, channel and attempts if it is still in claim `token`, else None.

    On PostgreSQL the row is locked until the transaction ends; every write is fenced by
    the token as well (`_fenced`).
    """
    query = select(OutboxMessage.resident_id, OutboxMessage.channel, OutboxMessage.attempts).where(
        OutboxMessage.id == outbox_id, _ours(token)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).one_or_none()
    if row is None:
        _dropped(outbox_id, what)
    return row


def _fenced(session: Session, outbox_id: int, token: str, what: str, **values: object) -> bool:
    """Write `values` to the row only if it is still in claim `token`; False if dropped."""
    written = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, _ours(token))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:
        _dropped(outbox_id, what)
        return False
    return True


def mark_all_sent(session: Session, sent: list[Sent], now: datetime) -> None:
    """The provider took these updates (`Sent` with their outbox ids and claim tokens).

    One batched UPDATE of the outbox, fenced by each claim's token; one SELECT of which
    rows it wrote; one INSERT into the record of sent messages (where delivery reports
    find them) for those. A row claimed by another worker since is left as that worker
    has it.
    """
    if not sent:
        return
    table = OutboxMessage.__table__
    session.execute(
        update(table)
        .where(
            table.c.id == bindparam("outbox_id"),
            table.c.status == OutboxStatus.SENDING,
            table.c.claim_token == bindparam("token"),
        )
        .values(
            status=OutboxStatus.SENT, provider_id=bindparam("sid"), sent_at=now, error_code=None
        ),
        [{"outbox_id": s.outbox_id, "sid": s.provider_id, "token": s.claim_token} for s in sent],
    )
    # Which rows the UPDATE wrote: each is now "sent" under its own token and provider id
    # (rows written here stay locked until commit, and no other claim has the token).
    written: set[tuple[int, str, str]] = set()
    for chunk in chunks([s.outbox_id for s in sent]):
        written.update(
            (outbox_id, token, sid)
            for outbox_id, token, sid in session.execute(
                select(table.c.id, table.c.claim_token, table.c.provider_id).where(
                    table.c.id.in_(chunk), table.c.status == OutboxStatus.SENT
                )
            )
        )
    landed = []
    for one in sent:
        if (one.outbox_id, one.claim_token, one.provider_id) in written:
            landed.append(one)
        else:
            _dropped(one.outbox_id or 0, "record of a send")
    record_sent(session, landed, now)


def release(session: Session, outbox_ids: list[int], token: str) -> None:
    """Give back claimed rows that were not sent (quiet hours began): queued as before."""
    for chunk in chunks(outbox_ids):
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(chunk),
                OutboxMessage.claim_token == token,
                OutboxMessage.status == OutboxStatus.SENDING,
            )
            .values(
                status=OutboxStatus.QUEUED,
                claim_token=None,
                attempts=OutboxMessage.attempts - 1,
            )
            .execution_options(synchronize_session=False)
        )


def mark_retry(
    session: Session,
    outbox_id: int,
    code: str,
    now: datetime,
    retry_after: float | None,
    *,
    token: str,
) -> None:
    """Try again later (backing off, and not before `retry_after`), or give up after
    MAX_ATTEMPTS. Only while the row is still in claim `token`."""
    row = _claimed_row(session, outbox_id, token, "retry")
    if row is None:
        return
    if row.attempts >= MAX_ATTEMPTS:
        _fenced(session, outbox_id, token, "retry", status=OutboxStatus.FAILED, error_code=code)
        return
    wait = BACKOFF_S[min(row.attempts, len(BACKOFF_S)) - 1]
    _fenced(
        session,
        outbox_id,
        token,
        "retry",
        status=OutboxStatus.QUEUED,
        error_code=code,
        next_attempt_at=now + timedelta(seconds=max(wait, retry_after or 0)),
    )


def mark_expired(session: Session, outbox_id: int, *, token: str) -> None:
    """Final: its validity period ran out before it could be sent; it never will be."""
    _fenced(session, outbox_id, token, "expiry", status=OutboxStatus.EXPIRED)


def mark_undeliverable(
    session: Session,
    outbox_id: int,
    code: str,
    *,
    token: str,
    opted_out: bool,
    unreachable: bool,
) -> None:
    """Final: the provider refused the recipient (and says why). Only while the row is
    still in claim `token` (the worker that owns it now hears the same from the provider).
    """
    row = _claimed_row(session, outbox_id, token, "refusal")
    if row is None:
        return
    status = OutboxStatus.OPTED_OUT if opted_out else OutboxStatus.FAILED
    if not _fenced(session, outbox_id, token, "refusal", status=status, error_code=code):
        return
    address = None
    if unreachable:
        address = session.scalars(
            select(ChannelIdentity.address).where(
                ChannelIdentity.resident_id == row.resident_id,
                ChannelIdentity.channel == row.channel,
            )
        ).first()
    recipient_refused(
        session, row.resident_id, row.channel, address, opted_out=opted_out, unreachable=unreachable
    )
