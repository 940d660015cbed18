"""The notifier's side of the outbox: claim what is due, then record how each send went.

A row moves queued -> sending (claimed) -> sent, or back to queued to retry later, or to
failed / opted_out. A claim is one UPDATE, so two workers never claim the same row. A row
left in "sending" by a worker that died is claimed again once its lease has run out, and
marked in doubt: the provider may or may not have taken it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from bot.models import ChannelIdentity, OutboxMessage, Resident, Update
from bot.services.delivery import Sent, recipient_refused, record_sent
from bot.services.identities import (
    chunks,
    reachable_channel,
    reachable_identities,
)
from bot.services.updates import update_message

IN_DOUBT = "in_doubt"  # error_code of a row whose last send may have gone through
MAX_ATTEMPTS = 6
BACKOFF_S = (30, 120, 600, 1800, 7200)  # after attempt 1, 2, 3, ...


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


@dataclass(frozen=True)
class Claim:
    """What one claim took: `taken` rows under `token`, of which `items` are to send."""

    token: str
    taken: int  # includes rows closed at claim time (opted out, unreachable, moved)
    items: list[Claimed]


def _due(now: datetime, lease: timedelta):  # type: ignore[no-untyped-def]
    return or_(
        and_(
            OutboxMessage.status == "queued",
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        ),
        and_(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - lease),
    )


def claim_due(
    session: Session,
    channel: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    skip_claims: Collection[str] = (),
) -> Claim:
    """Claim up to `limit` due rows on `channel` (oldest first), none held by `skip_claims`.

    Rows whose resident opted out, or can no longer be reached, are closed here instead of
    being returned. `skip_claims` lets a worker claim ahead while its earlier claims are
    still being sent, whatever the lease.
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
    if session.get_bind().dialect.name == "postgresql":
        due_ids = due_ids.with_for_update(skip_locked=True)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due_ids.scalar_subquery()), _due(now, lease))
        .values(
            status="sending",
            claimed_at=now,
            claim_token=token,
            attempts=OutboxMessage.attempts + 1,
            error_code=case(
                (OutboxMessage.status == "sending", IN_DOUBT), else_=OutboxMessage.error_code
            ),
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(OutboxMessage, Resident)
        .join(Resident, Resident.id == OutboxMessage.resident_id)
        .where(OutboxMessage.status == "sending", OutboxMessage.claim_token == token)
        .order_by(OutboxMessage.id)
    ).all()
    messages: dict[int, str] = {}
    claimed = []
    found = reachable_identities(session, [resident.id for _, resident in rows], (channel,))
    addresses = {resident_id: address for resident_id, (_, address) in found.items()}
    for row, resident in rows:
        if resident.opted_out_at is not None or not resident.contact_ok:
            row.status = "opted_out"
            continue
        address = addresses.get(resident.id)
        if address is None:
            # Closed on this channel: moved to another reachable channel (whose worker loop
            # will claim it), or failed if there is none.
            moved_to = reachable_channel(session, resident)
            if moved_to is None:
                row.status, row.error_code = "failed", "unreachable"
            else:
                row.status, row.channel = "queued", moved_to
            continue
        if row.update_id not in messages:
            update_row = session.get(Update, row.update_id)
            messages[row.update_id] = update_message(
                update_row.you_said, update_row.we_did, coming=update_row.stage == "coming"
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
            )
        )
    session.flush()
    return Claim(token=token, taken=len(rows), items=claimed)


def _claimed_row(session: Session, outbox_id: int) -> OutboxMessage | None:
    row = session.get(OutboxMessage, outbox_id)
    return row if row is not None and row.status == "sending" else None


def mark_all_sent(session: Session, sent: list[Sent], now: datetime) -> None:
    """The provider took these updates (`Sent` with their outbox ids), in two statements.

    One batched UPDATE of the outbox, and one INSERT into the record of sent messages
    (where delivery reports find them).
    """
    if not sent:
        return
    table = OutboxMessage.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("outbox_id"), table.c.status == "sending")
        .values(status="sent", provider_id=bindparam("sid"), sent_at=now, error_code=None),
        [{"outbox_id": s.outbox_id, "sid": s.provider_id} for s in sent],
    )
    record_sent(session, sent, now)


def release(session: Session, outbox_ids: list[int], token: str) -> None:
    """Give back claimed rows that were not sent (quiet hours began): queued as before."""
    for chunk in chunks(outbox_ids):
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(chunk),
                OutboxMessage.claim_token == token,
                OutboxMessage.status == "sending",
            )
            .values(
                status="queued",
                claim_token=None,
                attempts=OutboxMessage.attempts - 1,
            )
            .execution_options(synchronize_session=False)
        )


def mark_retry(
    session: Session, outbox_id: int, code: str, now: datetime, retry_after: float | None
) -> None:
    """Try again later (backing off), or give up after MAX_ATTEMPTS."""
    row = _claimed_row(session, outbox_id)
    if row is None:
        return
    row.error_code = code
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return
    wait = BACKOFF_S[min(row.attempts, len(BACKOFF_S)) - 1]
    row.status = "queued"
    row.next_attempt_at = now + timedelta(seconds=max(wait, retry_after or 0))


def mark_undeliverable(
    session: Session, outbox_id: int, code: str, *, opted_out: bool, unreachable: bool
) -> None:
    """Final: the provider refused the recipient (and says why)."""
    row = _claimed_row(session, outbox_id)
    if row is None:
        return
    row.status, row.error_code = ("opted_out" if opted_out else "failed"), code
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
