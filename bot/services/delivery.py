"""Inbound de-duplication, outbound records and delivery status from providers."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import (
    InboundMessage,
    OutboundMessage,
    OutboxMessage,
    PendingChoice,
    Resident,
    utcnow,
)
from bot.services.consent import opt_out

# Twilio error codes: the recipient replied STOP at carrier level.
TWILIO_OPTED_OUT = "21610"


def first_delivery(session: Session, channel: str, provider_id: str) -> bool:
    """Record an inbound message id; False if we have seen it before (a replay or retry)."""
    try:
        with session.begin_nested():
            session.add(InboundMessage(channel=channel, provider_id=provider_id))
        return True
    except IntegrityError:
        return False


def record_outbound(
    session: Session,
    *,
    resident: Resident | None,
    channel: str,
    provider_id: str | None,
    status: str,
    error_code: str | None = None,
) -> OutboundMessage:
    """Record a message handed to (or refused by) a provider."""
    message = OutboundMessage(
        resident_id=resident.id if resident else None,
        channel=channel,
        provider_id=provider_id,
        status=status,
        error_code=error_code,
    )
    session.add(message)
    if error_code == TWILIO_OPTED_OUT and resident is not None:
        opt_out(session, resident, channel=channel)
    session.flush()
    return message


def record_status(
    session: Session, channel: str, provider_id: str, status: str, error_code: str | None
) -> bool:
    """A provider's delivery report; False if the message is not ours."""
    message = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.channel == channel, OutboundMessage.provider_id == provider_id
        )
    ).first()
    notification = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.channel == channel, OutboxMessage.provider_id == provider_id
        )
    ).first()
    if message is None and notification is None:
        return False
    if message is not None:
        message.status = status
        message.error_code = error_code or message.error_code
        message.updated_at = utcnow()
    if notification is not None:
        _update_notification(notification, status, error_code)
    resident_id = (message or notification).resident_id
    if error_code == TWILIO_OPTED_OUT and resident_id is not None:
        resident = session.get(Resident, resident_id)
        if resident is not None:
            opt_out(session, resident, channel=channel)
    return True


def _update_notification(row: OutboxMessage, status: str, error_code: str | None) -> None:
    """An update's delivery report: delivered, or failed after all (with the reason)."""
    if status == "delivered":
        row.status = "delivered"
    elif status in ("failed", "undelivered"):
        row.status = "opted_out" if error_code == TWILIO_OPTED_OUT else "failed"
        row.error_code = error_code or status


def offer_choices(session: Session, resident: Resident, channel: str, payloads: list[str]) -> None:
    """Remember the numbered options just sent (an empty list closes the question)."""
    session.execute(
        delete(PendingChoice).where(
            PendingChoice.resident_id == resident.id, PendingChoice.channel == channel
        )
    )
    if payloads:
        session.add(
            PendingChoice(resident_id=resident.id, channel=channel, payloads=json.dumps(payloads))
        )
    session.flush()


def chosen_payload(session: Session, resident: Resident, channel: str, reply: str) -> str | None:
    """The payload of option `reply` ("1", " 2 ") while a question is open, else None."""
    number = reply.strip().rstrip(".")
    if not number.isdigit():
        return None
    choice = session.scalars(
        select(PendingChoice).where(
            PendingChoice.resident_id == resident.id, PendingChoice.channel == channel
        )
    ).one_or_none()
    if choice is None:
        return None
    payloads = json.loads(choice.payloads)
    index = int(number) - 1
    return payloads[index] if 0 <= index < len(payloads) else None
