""" "You said, we did" updates: drafting, who exactly is told, and publishing once."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect

from bot.models import (
    ChannelIdentity,
    ConsentAnswer,
    OutboxMessage,
    OutboxStatus,
    Resident,
    Stage,
    Update,
    UpdateView,
    View,
    ViewTheme,
    utcnow,
)
from bot.redaction import redact
from bot.services import audit
from bot.services.curation import visible
from bot.services.dashboard import resident_tag
from bot.services.identities import PROACTIVE_CHANNELS, chunks, reachable_channels
from bot.services.targeting import checked_targets
from bot.services.views import with_theme
from bot.settings import get_settings
from bot.sms import MAX_SEGMENTS, gsm7_length, is_gsm7, plain_text, segments
from bot.targets import Targets
from bot.wording import render

MAX_TITLE_CHARS = 200


class InvalidUpdate(ValueError):
    """An update that cannot be published as written."""


class NobodyToTell(InvalidUpdate):
    """An update that reaches no resident: it is not published."""


_PLACEHOLDER = re.compile(r"\{(you_said|we_did)\}")


def update_message(
    you_said: str, we_did: str, *, coming: bool = False, org_name: str | None = None
) -> str:
    """The message residents receive (wording from domain.yml's utter_update[_coming])."""
    words = {"you_said": plain_text(you_said).rstrip("."), "we_did": _sentence(plain_text(we_did))}
    template = update_template(coming=coming, org_name=org_name)
    return _PLACEHOLDER.sub(lambda found: words[found.group(1)], template)  # in one pass


def update_template(*, coming: bool = False, org_name: str | None = None) -> str:
    """That message with `{you_said}` and `{we_did}` still to fill (the console's preview)."""
    return render(
        "utter_update_coming" if coming else "utter_update",
        org_name=org_name or get_settings().org_name,
        you_said="{you_said}",
        we_did="{we_did}",
    )


def _sentence(text: str) -> str:
    """`text` ending as a sentence does, so that the next one does not run on from it."""
    if not text or text.rstrip("\"')]").endswith((".", "!", "?")):
        return text
    return text + "."


@dataclass(frozen=True)
class UpdateDraft:
    """What an officer writes: the message, whom it answers, and whether it has happened yet."""

    title: str
    you_said: str  # what residents told us
    we_did: str  # what changed because of it
    themes: Sequence[str] = ()  # theme keys
    areas: Sequence[str] = ()  # postcode districts (or postcodes)
    since: datetime | None = None  # only views from this time on
    until: datetime | None = None  # ... up to this time
    view_ids: Sequence[int] = ()  # views hand-picked as ones it answers
    coming: bool = False  # the change is still to happen: ask nothing

    def __post_init__(self) -> None:
        for name in ("themes", "areas", "view_ids"):  # tuples, not the caller's lists
            object.__setattr__(self, name, tuple(getattr(self, name)))


def _checked(draft: UpdateDraft) -> dict:
    """A draft's columns, tidied; raises InvalidUpdate with a short reason."""
    title = draft.title.strip()
    you_said, we_did = plain_text(draft.you_said), plain_text(draft.we_did)
    if not title or not you_said or not we_did:
        raise InvalidUpdate("a title, what residents said and what changed are all needed")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidUpdate(f"the title must be at most {MAX_TITLE_CHARS} characters")
    message = update_message(you_said, we_did, coming=draft.coming)
    encoding, count = segments(message)
    if not is_gsm7(message) or count > MAX_SEGMENTS:
        raise InvalidUpdate(
            f"the message must fit {MAX_SEGMENTS} SMS (at most 306 plain characters): "
            f"it is {gsm7_length(message) if encoding == 'GSM-7' else len(message)} characters"
            f"{'' if encoding == 'GSM-7' else ', with special characters such as emoji'}"
        )
    themes, districts = checked_targets(list(draft.themes), list(draft.areas), InvalidUpdate)
    since, until = draft.since, draft.until
    if since and until and until <= since:
        raise InvalidUpdate("the date window ends before it starts")
    if not (themes or districts or draft.view_ids):
        raise InvalidUpdate(
            "say which themes, areas or views it answers: it goes to those residents"
        )
    return {
        "title": title,
        "you_said": you_said,
        "we_did": we_did,
        "targets": Targets(tuple(themes), tuple(districts), since, until),
        "stage": Stage.COMING if draft.coming else Stage.DONE,
    }


def _picked_views(session: Session, view_ids: Sequence[int]) -> list[int]:
    """The hand-picked views, each once; raises InvalidUpdate for one that does not exist."""
    picked = list(dict.fromkeys(view_ids))
    for view_id in picked:
        if session.get(View, view_id) is None:
            raise InvalidUpdate(f"there is no view {view_id}")
    return picked


def _pick_views(session: Session, update_id: int, view_ids: Sequence[int]) -> None:
    for view_id in _picked_views(session, view_ids):
        session.add(UpdateView(update_id=update_id, view_id=view_id))
    session.flush()


def draft_update(session: Session, draft: UpdateDraft, *, created_by: str) -> Update:
    """Write a draft (`coming`: the change is still to happen); raises InvalidUpdate."""
    update = Update(created_by=created_by, **_checked(draft))
    session.add(update)
    session.flush()
    _pick_views(session, update.id, draft.view_ids)
    return update


def draft_recorded(
    session: Session, draft: UpdateDraft, *, actor: str, remote_addr: str | None = None
) -> Update:
    """Write a draft (as `draft_update`, by `actor`) and its audit event, "update.draft"."""
    update = draft_update(session, draft, created_by=actor)
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
    draft: UpdateDraft,
    *,
    actor: str,
    remote_addr: str | None = None,
) -> Update:
    """Change a draft that is not yet published (audited); raises InvalidUpdate if wrong."""
    update = _locked_draft(session, update_id)
    for column, value in _checked(draft).items():
        setattr(update, column, value)
    session.execute(delete(UpdateView).where(UpdateView.update_id == update_id))
    _pick_views(session, update_id, draft.view_ids)
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


def _concerned(
    update: Update, resident_id: int | None = None, view_ids: Sequence[int] | None = None
) -> Select | CompoundSelect:
    """SELECT of the residents whose views the update answers (matching or hand-picked);
    hidden views answer nothing. `view_ids`: the picked views of a draft not yet written."""
    base = select(View.resident_id).where(visible())
    if resident_id is not None:
        base = base.where(View.resident_id == resident_id)
    if view_ids is None:
        picked = base.join(UpdateView, UpdateView.view_id == View.id).where(
            UpdateView.update_id == update.id
        )
    else:
        picked = base.where(View.id.in_(list(view_ids)))
    matching = targets_condition(update)
    if matching is None:
        return picked
    return base.where(matching).union(picked)


def recipients(
    session: Session, update: Update, view_ids: Sequence[int] | None = None
) -> list[Recipient]:
    """Residents with a matching (or hand-picked) view, who may be contacted and reached."""
    resident_ids = set(session.scalars(_concerned(update, view_ids=view_ids)).all())
    contactable: list[int] = []
    for chunk in chunks(sorted(resident_ids)):
        contactable += session.scalars(
            select(Resident.id).where(
                Resident.id.in_(chunk),
                Resident.consent == ConsentAnswer.GIVEN,
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


def _by_channel(channels: Iterable[str]) -> dict[str, int]:
    """Counts by channel, in order, and "total"."""
    counts = Counter(channels)
    return {**dict(sorted(counts.items())), "total": sum(counts.values())}


def preview(session: Session, update: Update) -> dict[str, int]:
    """How many residents would be told, by channel (and "total"); see `preview_details`."""
    return _by_channel(r.channel for r in recipients(session, update))


def preview_draft(session: Session, draft: UpdateDraft) -> dict[str, int]:
    """`preview` of a draft without writing it; raises InvalidUpdate as `draft_update` would."""
    unsaved = Update(created_by="", **_checked(draft))  # never added to the session
    found = recipients(session, unsaved, _picked_views(session, draft.view_ids))
    return _by_channel(r.channel for r in found)


def someone_to_tell(counts: dict[str, int]) -> int:
    """How many residents a preview reaches; raises NobodyToTell when it is none."""
    if counts["total"] == 0:
        raise NobodyToTell("this update reaches no resident, so it was not published")
    return counts["total"]


# What the preview shows: which views it answers, and why some residents are not told ------

MATCH_LIMIT = 10  # views listed on the preview page
NOT_REACHED = {
    "erased": "their details were erased",
    "opted_out": "they opted out",
    "no_contact": "they did not agree to be contacted",
    "web_chat": "they wrote in the web chat, which cannot receive updates",
    "gone": "their SMS number or Telegram chat no longer works",
}


@dataclass(frozen=True)
class Match:
    """A view the update answers, why, and whether its resident is told."""

    view_id: int
    text: str  # redacted
    theme_key: str | None
    area: str | None
    channel: str
    created_at: datetime
    resident: str  # the console's anonymous tag
    picked: bool  # hand-picked by the officer
    themes: list[str]  # the update's themes the view is under (when it matches the targets)
    matches: bool  # within the update's themes, areas and dates
    told_by: str | None  # the channel its resident is told on; None: not told
    not_reached: str | None  # why its resident is not told (a NOT_REACHED phrase)


@dataclass(frozen=True)
class Preview:
    """Who a draft would tell, by channel; the views it answers; who cannot be reached."""

    counts: dict[str, int]  # by channel, and "total"
    matches: list[Match]  # at most MATCH_LIMIT: hand-picked first, then the newest
    views: int  # how many views it answers in all
    picked: int  # how many views were hand-picked
    not_reached: dict[str, int]  # NOT_REACHED phrase -> residents
    picked_not_reached: dict[str, int]  # the same, for residents of hand-picked views


def targets_condition(update: Update) -> ColumnElement | None:
    """The condition on View for the update's themes, areas and dates (None: picked only)."""
    targets = update.targets
    if not targets.narrowed:
        return None
    conditions = [visible()]  # a hidden view is not targeted
    if targets.themes:
        conditions.append(with_theme(targets.themes))
    if targets.districts:
        conditions.append(View.area.in_(targets.districts))
    if targets.since:
        conditions.append(View.created_at >= targets.since)
    if targets.until:
        conditions.append(View.created_at < targets.until)
    return and_(*conditions)


def _not_reached(session: Session, resident_ids: list[int]) -> dict[int, str]:
    """Why each of these residents cannot be told (those who can are left out)."""
    reasons: dict[int, str] = {}
    contactable: list[int] = []
    for chunk in chunks(sorted(resident_ids)):
        for resident in session.scalars(select(Resident).where(Resident.id.in_(chunk))):
            if resident.erased_at is not None:
                reasons[resident.id] = NOT_REACHED["erased"]
            elif resident.opted_out_at is not None:
                reasons[resident.id] = NOT_REACHED["opted_out"]
            elif resident.consent != ConsentAnswer.GIVEN or not resident.contact_ok:
                reasons[resident.id] = NOT_REACHED["no_contact"]
            else:
                contactable.append(resident.id)
    reachable = reachable_channels(session, contactable)
    lost = [i for i in contactable if i not in reachable]
    proactive: set[int] = set()
    for chunk in chunks(lost):
        proactive.update(
            session.scalars(
                select(ChannelIdentity.resident_id).where(
                    ChannelIdentity.resident_id.in_(chunk),
                    ChannelIdentity.channel.in_(PROACTIVE_CHANNELS),
                )
            )
        )
    for resident_id in lost:
        reasons[resident_id] = NOT_REACHED["gone" if resident_id in proactive else "web_chat"]
    return reasons


def preview_details(session: Session, update: Update, limit: int = MATCH_LIMIT) -> Preview:
    """The preview in full: counts by channel, the views answered and who cannot be told."""
    told = {r.resident_id: r.channel for r in recipients(session, update)}
    concerned = set(session.scalars(_concerned(update)).all())
    reasons = _not_reached(session, [i for i in concerned if i not in told])
    shown = aliased(View)  # picked views that are not hidden (uncorrelated with View below)
    picked_ids = (
        select(UpdateView.view_id)
        .join(shown, shown.id == UpdateView.view_id)
        .where(UpdateView.update_id == update.id, shown.hidden_at.is_(None))
    )
    matching = targets_condition(update)
    wanted = View.id.in_(picked_ids) if matching is None else or_(View.id.in_(picked_ids), matching)
    is_picked = case((View.id.in_(picked_ids), True), else_=False)
    is_match = false() if matching is None else case((matching, True), else_=False)
    rows = session.execute(
        select(View, Resident.conversation_id, is_picked, is_match)
        .join(Resident, Resident.id == View.resident_id)
        .where(wanted)
        .order_by(is_picked.desc(), View.created_at.desc(), View.id.desc())
        .limit(limit)
    ).all()
    themes = update.targets.themes
    under: dict[int, set[str]] = {}
    for view_id, key in session.execute(
        select(ViewTheme.view_id, ViewTheme.theme_key).where(
            ViewTheme.view_id.in_([view.id for view, *_ in rows])
        )
    ):
        under.setdefault(view_id, set()).add(key)
    matches = [
        Match(
            view_id=view.id,
            text=redact(view.text),
            theme_key=view.theme_key,
            area=view.area,
            channel=view.channel,
            created_at=view.created_at,
            resident=resident_tag(conversation),
            picked=bool(picked),
            themes=[t for t in themes if t in under.get(view.id, ())] if matched else [],
            matches=bool(matched),
            told_by=told.get(view.resident_id),
            not_reached=reasons.get(view.resident_id),
        )
        for view, conversation, picked, matched in rows
    ]
    picked_residents = set(
        session.scalars(select(View.resident_id).where(View.id.in_(picked_ids)).distinct()).all()
    )
    return Preview(
        counts=_by_channel(told.values()),
        matches=matches,
        views=session.scalar(select(func.count()).select_from(View).where(wanted)) or 0,
        picked=session.scalar(select(func.count()).select_from(picked_ids.subquery())) or 0,
        not_reached=dict(Counter(reasons.values()).most_common()),
        picked_not_reached=dict(
            Counter(r for i, r in reasons.items() if i in picked_residents).most_common()
        ),
    )


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
                        status=OutboxStatus.QUEUED,
                    )
                )
            update.published_at = now or utcnow()
    except IntegrityError:
        return 0  # published by someone else at the same moment
    return len(found)


def publish_recorded(
    session: Session, update_id: int, *, actor: str, remote_addr: str | None = None
) -> int | None:
    """Publish and write the audit event in the same transaction; None if already published;
    raises NobodyToTell (nothing published, nothing audited) when it reaches no resident.

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
    someone_to_tell(preview(session, update))
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
