"""Finding residents by conversation id, and what we know of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.models import ChannelIdentity, Resident


@dataclass(frozen=True)
class ResidentState:
    """What the dialogue needs to know about a resident."""

    consent: str | None
    opted_out: bool
    area: str | None
    joined: datetime | None


NEW_RESIDENT = ResidentState(consent=None, opted_out=False, area=None, joined=None)


# Built once: every turn asks it, and building it costs more than running it.
_BY_CONVERSATION = select(Resident).where(Resident.conversation_id == bindparam("conversation_id"))


_LOCK = (
    select(Resident.id)
    .where(Resident.id == bindparam("resident_id"))
    .with_for_update(key_share=True)
)


def lock_resident(session: Session, resident_id: int) -> None:
    """Lock the resident's row until the transaction ends (PostgreSQL; SQLite has one writer).

    Transactions that change several of one resident's rows (accepting their message,
    erasing them) lock the resident's row first, so they take turns instead of deadlocking.
    """
    if session.get_bind().dialect.name != "sqlite":
        session.execute(_LOCK, {"resident_id": resident_id})


def find_resident(session: Session, conversation_id: str) -> Resident | None:
    """The resident behind a conversation id, if we have met them."""
    return session.scalars(_BY_CONVERSATION, {"conversation_id": conversation_id}).one_or_none()


def get_or_create_resident(session: Session, conversation_id: str, channel: str) -> Resident:
    """The resident behind a conversation id, created (with a channel identity) if new.

    Channels that know the resident's real address (SMS, Telegram) create the resident
    and identity themselves; for the others (REST, the terminal chat) the conversation
    id is the address.
    """
    resident = find_resident(session, conversation_id)
    if resident is None:
        resident = Resident(conversation_id=conversation_id)
        session.add(resident)
        session.add(ChannelIdentity(resident=resident, channel=channel, address=conversation_id))
        session.flush()
    return resident


def resident_state(session: Session, conversation_id: str) -> ResidentState:
    """The dialogue-relevant state of a conversation's resident (a stranger if unknown)."""
    resident = find_resident(session, conversation_id)
    if resident is None:
        return NEW_RESIDENT
    return ResidentState(
        consent=resident.consent,
        opted_out=resident.opted_out_at is not None,
        area=resident.area,
        joined=resident.created_at,
    )
