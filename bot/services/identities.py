"""Channel addresses (phone numbers, chat ids) and the residents behind them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from bot.models import ChannelIdentity, Resident, utcnow

PROACTIVE_CHANNELS = ("sms", "telegram")  # the channels we can message first
T = TypeVar("T")


# Built once: every message asks them (building one costs more than running it).
_IDENTITY = (
    select(ChannelIdentity, Resident)
    .join(Resident)
    .where(
        ChannelIdentity.channel == bindparam("channel"),
        ChannelIdentity.address == bindparam("address"),
    )
)
# The same, the resident's row locked until the transaction ends (PostgreSQL; SQLite has
# one writer at a time). FOR NO KEY UPDATE: rows referring to the resident can still be
# added meanwhile (a view, a reply's options).
_IDENTITY_LOCKED = _IDENTITY.with_for_update(of=Resident, key_share=True)
_RESIDENTS, _IDENTITIES = Resident.__table__, ChannelIdentity.__table__
_RESIDENT_AND_ADDRESS = (
    select(_RESIDENTS.c.id, _IDENTITIES.c.address)
    .select_from(
        _RESIDENTS.outerjoin(
            _IDENTITIES,
            and_(
                _IDENTITIES.c.resident_id == _RESIDENTS.c.id,
                _IDENTITIES.c.channel == bindparam("channel"),
            ),
        )
    )
    .where(_RESIDENTS.c.conversation_id == bindparam("conversation_id"))
)


def resident_for(session: Session, channel: str, address: str, *, lock: bool = False) -> Resident:
    """The resident at `address`, creating the resident and identity if new.

    `lock`: their row is locked as it is read, the first of their rows the transaction
    locks (see `bot.services.residents.lock_resident`).
    """
    statement = _IDENTITY_LOCKED if lock else _IDENTITY
    found = session.execute(statement, {"channel": channel, "address": address}).one_or_none()
    if found is not None:
        identity, resident = found
        if identity.unreachable_at is not None:
            identity.unreachable_at = None  # they wrote to us: reachable again
        return resident
    resident = Resident()
    session.add(resident)
    session.flush()
    session.add(ChannelIdentity(resident_id=resident.id, channel=channel, address=address))
    session.flush()
    return resident


def conversation_for(session: Session, channel: str, address: str) -> str:
    """The conversation id of the resident at `address`, creating both if new."""
    return resident_for(session, channel, address).conversation_id


def resident_and_address(
    session: Session, conversation_id: str, channel: str
) -> tuple[int, str | None] | None:
    """The resident's id and address on `channel` (None: none there); None: no such resident.

    One query, asked for every reply sent.
    """
    row = session.execute(
        _RESIDENT_AND_ADDRESS, {"conversation_id": conversation_id, "channel": channel}
    ).first()
    return None if row is None else (row.id, row.address)


def resident_at(session: Session, channel: str, address: str) -> Resident | None:
    """The resident at an address, if known."""
    return session.scalars(
        select(Resident)
        .join(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.address == address)
    ).one_or_none()


def mark_unreachable(session: Session, channel: str, address: str) -> None:
    """The provider says this address cannot be reached (blocked the bot, deactivated)."""
    identity = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address
        )
    ).one_or_none()
    if identity is not None and identity.unreachable_at is None:
        identity.unreachable_at = utcnow()


def reachable_channel(session: Session, resident: Resident) -> str | None:
    """The channel of their newest identity that can still reach them (SMS or Telegram)."""
    return reachable_channels(session, [resident.id]).get(resident.id)


def reachable_channels(session: Session, resident_ids: Sequence[int]) -> dict[int, str]:
    """`reachable_channel` for many residents at once (those with none are left out)."""
    found = reachable_identities(session, resident_ids, PROACTIVE_CHANNELS)
    return {resident_id: channel for resident_id, (channel, _) in found.items()}


def reachable_identities(
    session: Session, resident_ids: Sequence[int], channels: Sequence[str]
) -> dict[int, tuple[str, str]]:
    """Each resident's newest (channel, address) on `channels` that can still reach them."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in chunks(resident_ids):
        for resident_id, channel, address in session.execute(
            select(ChannelIdentity.resident_id, ChannelIdentity.channel, ChannelIdentity.address)
            .where(
                ChannelIdentity.resident_id.in_(chunk),
                ChannelIdentity.channel.in_(channels),
                ChannelIdentity.unreachable_at.is_(None),
            )
            .order_by(ChannelIdentity.created_at.desc(), ChannelIdentity.id.desc())
        ):
            found.setdefault(resident_id, (channel, address))
    return found


def chunks(ids: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """`ids` in slices small enough for any database's limit on bound parameters."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
