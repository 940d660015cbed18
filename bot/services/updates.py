""" "You said, we did" updates: drafting, who exactly is told, and publishing once."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import OutboxMessage, Resident, Update, UpdateView, View, utcnow
from bot.services import audit
from bot.services.identities import chunks, reachable_channels
from bot.services.targeting import checked_targets
from bot.services.views import with_theme
from bot.settings import get_settings
from bot.sms import MAX_SEGMENTS, gsm7_length, is_gsm7, segments
from bot.wording import render

MAX_TITLE_CHARS = 200


class InvalidUpdate(ValueError):
    """An update that cannot be published as written."""


def update_message(
    you_said: str, we_did: str, *, coming: bool = False, org_name: str | None = None
) -> str:
    """The message residents receive (wording from domain.yml's utter_update[_coming])."""
    return render(
        "utter_update_coming" if coming else "utter_update",
        org_name=org_name or get_settings().org_name,
        you_said=you_said.strip().rstrip("."),
        we_did=we_did.strip(),
    )


def _checked(
    title: str,
    you_said: str,
    we_did: str,
    themes: list[str] | None,
    areas: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    view_ids: list[int] | None,
    coming: bool = False,
) -> dict:
    """A draft's columns, tidied; raises InvalidUpdate with a short reason."""
    title, you_said, we_did = title.strip(), " ".join(you_said.split()), " ".join(we_did.split())
    if not title or not you_said or not we_did:
        raise InvalidUpdate("a title, what residents said and what changed are all needed")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidUpdate(f"the title must be at most {MAX_TITLE_CHARS} characters")
    message = update_message(you_said, we_did, coming=coming)
    encoding, count = segments(message)
    if not is_gsm7(message) or count > MAX_SEGMENTS:
        raise InvalidUpdate(
            f"the message must fit {MAX_SEGMENTS} SMS in plain characters (GSM-7, at most 306): "
            f"it is {gsm7_length(message) if encoding == 'GSM-7' else len(message)} characters"
            f"{'' if encoding == 'GSM-7' else ' with characters outside GSM-7'}"
        )
    themes, districts = checked_targets(themes, areas, InvalidUpdate)
    if since and until and until <= since:
        raise InvalidUpdate("the date window ends before it starts")
    if not (themes or districts or view_ids):
        raise InvalidUpdate(
            "say which themes, areas or views it answers: it goes to those residents"
        )
    return {
        "title": title,
        "you_said": you_said,
        "we_did": we_did,
        "themes": json.dumps(themes),
        "areas": json.dumps(districts),
        "since": since,
        "until": until,
        "stage": "coming" if coming else "done",
    }


def _pick_views(session: Session, update_id: int, view_ids: list[int] | None) -> None:
    for view_id in dict.fromkeys(view_ids or []):
        if session.get(View, view_id) is None:
            raise InvalidUpdate(f"there is no view {view_id}")
        session.add(UpdateView(update_id=update_id, view_id=view_id))
    session.flush()


def draft_update(
    session: Session,
    *,
    title: str,
    you_said: str,
    we_did: str,
    created_by: str,
    themes: list[str] | None = None,
    areas: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    view_ids: list[int] | None = None,
    coming: bool = False,
) -> Update:
    """Write a draft (`coming`: the change is still to happen); raises InvalidUpdate."""
    fields = _checked(title, you_said, we_did, themes, areas, since, until, view_ids, coming)
    update = Update(created_by=created_by, **fields)
    session.add(update)
    session.flush()
    _pick_views(session, update.id, view_ids)
    return update


def draft_recorded(
    session: Session, *, actor: str, remote_addr: str | None = None, **fields: Any
) -> Update:
    """Write a draft (as `draft_update`, by `actor`) and its audit event, "update.draft"."""
    update = draft_update(session, created_by=actor, **fields)
    audit.record(
        session,
        actor=actor,
        action="update.draft",
        target=f"update:{update.id}",
        detail={"title": update.title},
        remote_addr=remote_addr,
    )
    return update


def _locked_draft(session: Session, update_id: int) -> Update:
    """The draft, locked against a publish at the same moment (PostgreSQL)."""
    update = session.scalars(
        select(Update).where(Update.id == update_id).with_for_update()
    ).one_or_none()
    if update is None:
        raise InvalidUpdate(f"there is no update {update_id}")
    if update.published_at is not None:
        raise InvalidUpdate("it has been published, so it can no longer be changed")
    return update


def revise_draft(
    session: Session,
    update_id: int,
    *,
    actor: str,
    title: str,
    you_said: str,
    we_did: str,
    themes: list[str] | None = None,
    areas: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    view_ids: list[int] | None = None,
    coming: bool = False,
    remote_addr: str | None = None,
) -> Update:
    """Change a draft that is not yet published (audited); raises InvalidUpdate if wrong."""
    update = _locked_draft(session, update_id)
    for column, value in _checked(
        title, you_said, we_did, themes, areas, since, until, view_ids, coming
    ).items():
        setattr(update, column, value)
    session.execute(delete(UpdateView).where(UpdateView.update_id == update_id))
    _pick_views(session, update_id, view_ids)
    audit.record(
        session, actor=actor, action="update.edit", target=f"update:{update_id}",
        remote_addr=remote_addr,
    )  # fmt: skip
    return update


def delete_draft(
    session: Session, update_id: int, *, actor: str, remote_addr: str | None = None
) -> None:
    """Delete a draft that is not yet published (audited, with its title)."""
    update = _locked_draft(session, update_id)
    session.execute(delete(UpdateView).where(UpdateView.update_id == update_id))
    audit.record(
        session,
        actor=actor,
        action="update.delete",
        target=f"update:{update_id}",
        detail={"title": update.title},
        remote_addr=remote_addr,
    )
    session.delete(update)
    session.flush()


@dataclass(frozen=True)
class Recipient:
    """A resident to tell, and the channel to tell them on."""

    resident_id: int
    channel: str


def _concerned(update: Update, resident_id: int | None = None):  # type: ignore[no-untyped-def]
    """SELECT of the residents whose views the update answers (matching or hand-picked)."""
    themes, areas = json.loads(update.themes), json.loads(update.areas)
    base = select(View.resident_id)
    if resident_id is not None:
        base = base.where(View.resident_id == resident_id)
    picked = base.join(UpdateView, UpdateView.view_id == View.id).where(
        UpdateView.update_id == update.id
    )
    if not (themes or areas):
        return picked
    matching = base
    if themes:
        matching = matching.where(with_theme(themes))
    if areas:
        matching = matching.where(View.area.in_(areas))
    if update.since:
        matching = matching.where(View.created_at >= update.since)
    if update.until:
        matching = matching.where(View.created_at < update.until)
    return matching.union(picked)


def recipients(session: Session, update: Update) -> list[Recipient]:
    """Residents with a matching (or hand-picked) view, who may be contacted and reached."""
    resident_ids = set(session.scalars(_concerned(update)).all())
    contactable: list[int] = []
    for chunk in chunks(sorted(resident_ids)):
        contactable += session.scalars(
            select(Resident.id).where(
                Resident.id.in_(chunk),
                Resident.consent == "given",
                Resident.contact_ok.is_(True),
                Resident.opted_out_at.is_(None),
            )
        ).all()
    channels = reachable_channels(session, contactable)
    return [Recipient(i, channels[i]) for i in sorted(contactable) if i in channels]


NEWS_LOOKBACK = 20  # published updates looked at for "any news?"


def news_for(session: Session, conversation_id: str, limit: int = 2) -> list[Update]:
    """The newest published updates that answered this resident's views (told or not)."""
    resident = session.scalars(
        select(Resident).where(Resident.conversation_id == conversation_id)
    ).one_or_none()
    if resident is None:
        return []
    told = set(
        session.scalars(
            select(OutboxMessage.update_id).where(OutboxMessage.resident_id == resident.id)
        )
    )
    latest = session.scalars(
        select(Update)
        .where(Update.published_at.is_not(None))
        .order_by(Update.published_at.desc(), Update.id.desc())
        .limit(NEWS_LOOKBACK)
    ).all()
    found = []
    for update in latest:
        if update.id in told or session.execute(_concerned(update, resident.id)).first():
            found.append(update)
        if len(found) == limit:
            break
    return found


def preview(session: Session, update: Update) -> dict[str, int]:
    """How many residents would be told, by channel (and "total")."""
    counts = Counter(r.channel for r in recipients(session, update))
    return {**dict(sorted(counts.items())), "total": sum(counts.values())}


def publish(session: Session, update_id: int, now: datetime | None = None) -> int:
    """Queue the update for every recipient, once; returns how many were queued now.

    The outbox rows and the publication are one transaction, and (update, resident) is
    unique: publishing twice, or twice at once, never queues anyone twice.
    """
    update = session.get(Update, update_id)
    if update is None:
        raise InvalidUpdate(f"there is no update {update_id}")
    if update.published_at is not None:
        return 0
    found = recipients(session, update)
    try:
        with session.begin_nested():
            for recipient in found:
                session.add(
                    OutboxMessage(
                        update_id=update.id,
                        resident_id=recipient.resident_id,
                        channel=recipient.channel,
                        status="queued",
                    )
                )
            update.published_at = now or utcnow()
    except IntegrityError:
        return 0  # published by someone else at the same moment
    return len(found)


def publish_recorded(
    session: Session, update_id: int, *, actor: str, remote_addr: str | None = None
) -> int | None:
    """Publish and write the audit event in the same transaction; None if already published.

    The update's row is locked first (PostgreSQL), so of two publishes at once one waits
    and then finds it published: one audit event, nobody queued twice.
    """
    update = session.scalars(
        select(Update).where(Update.id == update_id).with_for_update()
    ).one_or_none()
    if update is None:
        raise InvalidUpdate(f"there is no update {update_id}")
    if update.published_at is not None:
        return None
    queued = publish(session, update_id)
    audit.record(
        session,
        actor=actor,
        action="update.publish",
        target=f"update:{update_id}",
        detail={"queued": queued},
        remote_addr=remote_addr,
    )
    return queued
