"""The record of sent messages, delivery reports from providers, and numbered choices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from bot.models import (
    DeliveryStatus,
    OutboundMessage,
    OutboxMessage,
    OutboxStatus,
    PendingChoice,
    Resident,
    utcnow,
)
from bot.services.consent import opt_out
from bot.services.identities import mark_unreachable


@dataclass(frozen=True)
class Sent:
    """One provider message handed over (or refused), to record."""

    resident_id: int | None
    channel: str
    purpose: str  # a Purpose
    provider_id: str | None
    status: str  # DeliveryStatus.SENT or FAILED
    error_code: str | None = None
    outbox_id: int | None = None
    claim_token: str | None = None  # the outbox claim it was sent under (updates only)


def record_sent(session: Session, sent: Sequence[Sent], now: datetime) -> None:
    """Record messages handed to (or refused by) a provider: the one record of sent messages."""
    if sent:
        session.execute(
            insert(OutboundMessage),
            [
                {
                    "resident_id": s.resident_id,
                    "channel": s.channel,
                    "purpose": s.purpose,
                    "provider_id": s.provider_id,
                    "status": s.status,
                    "error_code": s.error_code,
                    "outbox_id": s.outbox_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for s in sent
            ],
        )


def record_status(
    session: Session,
    channel: str,
    provider_id: str,
    status: str,
    error_code: str | None,
    opted_out: bool = False,
) -> bool:
    """A provider's delivery report; False if the message is not ours.

    `opted_out`: the error says the recipient stopped all messages (Twilio 21610).
    """
    message = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.channel == channel, OutboundMessage.provider_id == provider_id
        )
    ).first()
    if message is None:
        return False
    message.status = status
    message.error_code = error_code or message.error_code
    message.updated_at = utcnow()
    if message.outbox_id is not None:
        notification = session.get(OutboxMessage, message.outbox_id)
        if notification is not None:
            _update_notification(notification, status, error_code, opted_out)
    recipient_refused(session, message.resident_id, channel, None, opted_out=opted_out)
    return True


def recipient_refused(
    session: Session,
    resident_id: int | None,
    channel: str,
    address: str | None,
    *,
    opted_out: bool = False,
    unreachable: bool = False,
) -> None:
    """What a provider's final refusal means: opted out of everything, or this address gone."""
    if opted_out and resident_id is not None:
        resident = session.get(Resident, resident_id)
        if resident is not None:
            opt_out(session, resident, channel=channel)
    if unreachable and address is not None:
        mark_unreachable(session, channel, address)


# Twilio's code for a message that waited in its queue past its ValidityPeriod, unsent.
VALIDITY_EXPIRED = "30036"


def _update_notification(
    row: OutboxMessage, status: str, error_code: str | None, opted_out: bool
) -> None:
    """An update's delivery report: delivered, or failed after all (with the reason).

    A message Twilio dropped because its validity period ran out is expired, as one our
    notifier never sent.
    """
    if status == DeliveryStatus.DELIVERED:
        row.status = OutboxStatus.DELIVERED
    elif status in (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED):
        if opted_out:
            row.status = OutboxStatus.OPTED_OUT
        elif error_code == VALIDITY_EXPIRED:
            row.status = OutboxStatus.EXPIRED
        else:
            row.status = OutboxStatus.FAILED
        row.error_code = error_code or status


# Built once, in SQLAlchemy Core: every turn offers its options (building a statement
# costs more than running it, and the ORM's layer as much again).
_CHOICES = PendingChoice.__table__
_THEIRS = and_(
    _CHOICES.c.resident_id == bindparam("resident_id"),
    _CHOICES.c.channel == bindparam("channel"),
)
_CLOSE_CHOICES = delete(_CHOICES).where(_THEIRS)
_OFFER_CHOICES = insert(_CHOICES)
_OPEN_CHOICE = select(PendingChoice).where(_THEIRS)


def offer_choices(session: Session, resident_id: int, channel: str, payloads: list[str]) -> None:
    """Remember the numbered options just sent (an empty list closes the question)."""
    where = {"resident_id": resident_id, "channel": channel}
    session.execute(_CLOSE_CHOICES, where)
    if payloads:
        session.execute(_OFFER_CHOICES, {**where, "payloads": json.dumps(payloads)})


def chosen_payload(session: Session, resident: Resident, channel: str, reply: str) -> str | None:
    """The payload of option `reply` ("1", " 2 ") while a question is open, else None."""
    number = reply.strip().rstrip(".")
    if not number.isdigit():
        return None
    choice = session.scalars(
        _OPEN_CHOICE, {"resident_id": resident.id, "channel": channel}
    ).one_or_none()
    if choice is None:
        return None
    payloads = json.loads(choice.payloads)
    index = int(number) - 1
    return payloads[index] if 0 <= index < len(payloads) else None
