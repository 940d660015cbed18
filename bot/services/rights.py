"""Residents' data rights: what we hold on them (summary and full copy), and erasure.

A resident's data lives in three places: this project's tables (every table with a
`resident_id`, and the views' themes), Rasa's tracker store (every event of their
conversation id) and the logs (which hold no message text and only masked numbers). A
full copy reads the first two; erasure empties both and keeps only a keyed hash of each
address on the do-not-contact list, so nothing proactive reaches that number or chat
again unless they start a new conversation and consent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.models import (
    Base,
    ChannelIdentity,
    CheckinRhythm,
    ConsentEvent,
    ConsentWording,
    DoNotContact,
    OutboxMessage,
    Resident,
    Update,
    UpdateView,
    View,
    ViewTheme,
    utcnow,
)
from bot.services import audit
from bot.services.residents import lock_resident
from bot.services.views import summarise_views
from bot.tracker_store import EVENTS, events_of, has_events_table

ERASE_ACTION = "resident.erase"


@dataclass(frozen=True)
class ResidentSummary:
    """What we hold on one resident, in a line."""

    resident_id: int
    joined: datetime
    channels: tuple[str, ...]
    consent: str | None
    area: str | None
    rhythm: str
    views: int
    themes: tuple[tuple[str | None, int], ...]

    def line(self) -> str:
        """One line for the data-protection officer (no address, no text)."""
        themes = ", ".join(f"{key or 'none'} {n}" for key, n in self.themes) or "none"
        return (
            f"resident {self.resident_id}: joined {self.joined:%Y-%m-%d} on "
            f"{'/'.join(self.channels) or 'no channel'}, consent {self.consent or 'not answered'}, "
            f"area {self.area or 'unknown'}, {self.rhythm}, "
            f"{self.views} view{'' if self.views == 1 else 's'} ({themes})"
        )


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed: rows per table, tracker events, addresses listed."""

    resident_id: int
    rows: dict[str, int]
    tracker_events: int
    blocked_addresses: int


def address_hash(channel: str, address: str, key: str) -> str:
    """The keyed hash kept of an erased address (HMAC-SHA256, hex)."""
    return hmac.new(key.encode(), f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


def summary(session: Session, resident_id: int) -> ResidentSummary | None:
    """The one-line summary of a resident, or None if there is no such resident."""
    resident = _live(session, resident_id)
    if resident is None:
        return None
    views = summarise_views(session, resident)
    channels = session.scalars(
        select(ChannelIdentity.channel).where(ChannelIdentity.resident_id == resident_id)
    ).all()
    return ResidentSummary(
        resident.id, resident.created_at, tuple(sorted(set(channels))), resident.consent,
        resident.area, resident.rhythm, views.total, views.by_theme,
    )  # fmt: skip


def summary_for(session: Session, conversation_id: str) -> ResidentSummary | None:
    """`summary` of the resident in this conversation ("what have I told you?")."""
    resident_id = session.scalar(
        select(Resident.id).where(Resident.conversation_id == conversation_id)
    )
    return None if resident_id is None else summary(session, resident_id)


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _rows(session: Session, table: Table, condition: Any) -> list[dict[str, Any]]:
    return [
        {key: _plain(value) for key, value in row._mapping.items()}
        for row in session.execute(select(table).where(condition).order_by(*table.primary_key))
    ]


def _resident_tables() -> list[Table]:
    """Every table with a resident_id column, parents before children."""
    return [t for t in Base.metadata.sorted_tables if "resident_id" in t.c]


def subject_access(
    session: Session, tracker: Connection | None, resident_id: int
) -> dict[str, Any] | None:
    """Everything we hold on one resident, machine-readable; None if there is no such resident."""
    resident = _live(session, resident_id)
    if resident is None:
        return None
    copy: dict[str, Any] = {
        "made_at": utcnow().isoformat(),
        "resident": _rows(session, Resident.__table__, Resident.id == resident_id)[0],
    }
    for table in _resident_tables():
        copy[table.name] = _rows(session, table, table.c.resident_id == resident_id)
    view_ids = select(View.id).where(View.resident_id == resident_id)
    copy["view_themes"] = _rows(session, ViewTheme.__table__, ViewTheme.view_id.in_(view_ids))
    versions = select(ConsentEvent.wording_version).where(ConsentEvent.resident_id == resident_id)
    copy["consent_wordings"] = _rows(
        session, ConsentWording.__table__, ConsentWording.version.in_(versions)
    )
    told = select(OutboxMessage.update_id).where(OutboxMessage.resident_id == resident_id)
    picked = select(UpdateView.update_id).where(UpdateView.view_id.in_(view_ids))
    copy["updates_sent_or_answering_their_views"] = [
        {
            "id": update.id,
            "title": update.title,
            "you_said": update.you_said,
            "we_did": update.we_did,
            "published_at": _plain(update.published_at),
        }
        for update in session.scalars(
            select(Update).where(Update.id.in_(told) | Update.id.in_(picked)).order_by(Update.id)
        )
    ]
    conversation: list[dict[str, Any]] = []
    if tracker is not None and has_events_table(tracker):
        for event in events_of(tracker, resident.conversation_id):
            conversation.append({"id": event.id, "type": event.type, "at": _plain(event.at), **{
                k: event.data[k] for k in ("text", "name", "parse_data") if k in event.data
            }})  # fmt: skip
    copy["conversation"] = conversation
    return copy


def subject_access_json(copy: dict[str, Any]) -> str:
    """The full copy as indented JSON (UTF-8 text, non-ASCII kept)."""
    return json.dumps(copy, ensure_ascii=False, indent=2, default=str)


def delete_tracker_events(tracker: Connection, conversation_id: str) -> int:
    """Delete every event of one conversation from Rasa's tracker store (no Rasa API does)."""
    if not has_events_table(tracker):
        return 0
    return tracker.execute(delete(EVENTS).where(EVENTS.c.sender_id == conversation_id)).rowcount


def erase(
    session: Session,
    resident_id: int,
    *,
    key: str,
    actor: str,
    tracker_events: int = 0,
    remote_addr: str | None = None,
) -> Erasure | None:
    """Erase everything held on one resident in our tables; None if there is no such resident.

    Their tracker events are deleted before (`delete_tracker_events`, counted in
    `tracker_events`): see `bot.erasure.Eraser`, which does both.
    """
    lock_resident(session, resident_id)  # before any of their rows, as accepting does
    resident = _live(session, resident_id)
    if resident is None:
        return None
    events = tracker_events
    identities = session.execute(
        select(ChannelIdentity.channel, ChannelIdentity.address).where(
            ChannelIdentity.resident_id == resident_id
        )
    ).all()
    for channel, address in identities:
        hashed = address_hash(channel, address, key)
        listed = session.scalar(
            select(DoNotContact.id).where(
                DoNotContact.channel == channel, DoNotContact.address_hash == hashed
            )
        )
        if listed is None:
            session.add(DoNotContact(channel=channel, address_hash=hashed))
    view_ids = select(View.id).where(View.resident_id == resident_id)
    rows: dict[str, int] = {}
    for table in (ViewTheme.__table__, UpdateView.__table__):
        rows[table.name] = session.execute(
            delete(table)
            .where(table.c.view_id.in_(view_ids))
            .execution_options(synchronize_session=False)
        ).rowcount
    for table in reversed(_resident_tables()):
        rows[table.name] = session.execute(
            delete(table)
            .where(table.c.resident_id == resident_id)
            .execution_options(synchronize_session=False)
        ).rowcount
    _hollow(resident)
    rows = {name: count for name, count in rows.items() if count}
    audit.record(
        session, actor=actor, action=ERASE_ACTION, target=f"resident:{resident_id}",
        detail={"rows": rows, "tracker_events": events, "addresses": len(identities)},
        remote_addr=remote_addr,
    )  # fmt: skip
    return Erasure(resident_id, rows, events, len(identities))


def _hollow(resident: Resident) -> None:
    """Empty the resident's row of everything about them; only its id stays, never reused."""
    now = utcnow()
    resident.conversation_id = f"erased-{uuid.uuid4().hex}"
    resident.created_at = now
    resident.consent = None
    resident.contact_ok = False
    resident.opted_out_at = None
    resident.area = None
    resident.rhythm = CheckinRhythm.UPDATES_ONLY
    resident.paused_until = None
    resident.pause_reason = None
    resident.erase_requested_at = None
    resident.erased_at = now


def _live(session: Session, resident_id: int) -> Resident | None:
    """The resident with this id, unless there is none or they were erased."""
    resident = session.get(Resident, resident_id)
    return resident if resident is not None and resident.erased_at is None else None


def is_blocked(session: Session, channel: str, address: str, key: str) -> bool:
    """Whether an erased resident's address is on the do-not-contact list."""
    hashed = address_hash(channel, address, key)
    return (
        session.scalar(
            select(DoNotContact.id).where(
                DoNotContact.channel == channel, DoNotContact.address_hash == hashed
            )
        )
        is not None
    )


def unblock(session: Session, resident: Resident, key: str) -> None:
    """Take the resident's addresses off the do-not-contact list (they consented again)."""
    for identity in resident.identities:
        session.execute(
            delete(DoNotContact).where(
                DoNotContact.channel == identity.channel,
                DoNotContact.address_hash == address_hash(identity.channel, identity.address, key),
            )
        )


def request_erasure(session: Session, conversation_id: str) -> bool:
    """Mark the resident to be erased once the reply confirming it has gone."""
    resident = session.scalars(
        select(Resident).where(Resident.conversation_id == conversation_id)
    ).one_or_none()
    if resident is None:
        return False
    resident.erase_requested_at = resident.erase_requested_at or utcnow()
    return True


# Built once, in SQLAlchemy Core: the inbox worker asks it every turn.
_ERASURE_REQUESTED = select(Resident.__table__.c.id).where(
    Resident.__table__.c.conversation_id == bindparam("conversation_id"),
    Resident.__table__.c.erase_requested_at.is_not(None),
)


def erasure_requested(session: Session, conversation_id: str) -> int | None:
    """The resident id behind the conversation if they asked to be erased, else None."""
    return session.scalar(_ERASURE_REQUESTED, {"conversation_id": conversation_id})


def _latest_view(session: Session, conversation_id: str) -> View | None:
    return session.scalars(
        select(View)
        .join(Resident, Resident.id == View.resident_id)
        .where(Resident.conversation_id == conversation_id)
        .order_by(View.created_at.desc(), View.id.desc())
        .limit(1)
    ).first()


def latest_view_text(session: Session, conversation_id: str) -> str | None:
    """The words of the resident's latest view, if they have one."""
    view = _latest_view(session, conversation_id)
    return view.text if view else None


def forget_last_view(session: Session, conversation_id: str) -> View | None:
    """Delete the resident's latest view (and its themes); the deleted view, or None."""
    view = _latest_view(session, conversation_id)
    if view is None:
        return None
    session.execute(delete(ViewTheme).where(ViewTheme.view_id == view.id))
    session.execute(delete(UpdateView).where(UpdateView.view_id == view.id))
    session.delete(view)
    session.flush()
    return view
