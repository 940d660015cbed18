"""Residents' replies to a "you said, we did" update: it helped, it did not, or a comment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.models import (
    TOLD,
    OutboxMessage,
    ReactionKind,
    Resident,
    Stage,
    Update,
    UpdateReaction,
    View,
)
from bot.services.inbox import made_from
from bot.services.residents import find_resident
from bot.services.views import NotAllowed, add_words, store_view
from bot.update_replies import COMMENT, has_words

REPLY_WINDOW = timedelta(days=14)  # a reply later than this is a new conversation
# The slot-mapping action that asks `update_awaiting_reply` on every message.
UPDATE_CONTEXT_ACTION = "action_update_context"
KINDS = tuple(ReactionKind)


_RESIDENTS, _OUTBOX, _UPDATES = Resident.__table__, OutboxMessage.__table__, Update.__table__
# Outbox rows of updates that reached the resident within the reply window: sent since
# `since` (bound when the statement runs, to now - REPLY_WINDOW).
_TOLD_LATELY = (_OUTBOX.c.status.in_(TOLD), _OUTBOX.c.sent_at >= bindparam("since"))


def update_awaiting_reply(
    session: Session, conversation_id: str, last_activity: datetime | None, now: datetime
) -> int | None:
    """The outbox row of the update this resident's new message replies to, if any.

    That is the latest update sent to them in the reply window, if it reached them after
    anything else was said in the conversation (so the update is what they are answering).
    """
    resident = find_resident(session, conversation_id)
    if resident is None:
        return None
    row = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.resident_id == resident.id, *_TOLD_LATELY)
        .order_by(OutboxMessage.sent_at.desc()),
        {"since": now - REPLY_WINDOW},
    ).first()
    if row is None or (last_activity is not None and row.sent_at <= last_activity):
        return None
    if session.get(Update, row.update_id).stage == Stage.COMING:
        return None  # it asked nothing: what they say next is ordinary conversation
    return row.id


# Built once, in SQLAlchemy Core: the inbox worker asks it for every batch.
_MAY_REPLY = (
    select(_RESIDENTS.c.conversation_id)
    .join(_OUTBOX, _OUTBOX.c.resident_id == _RESIDENTS.c.id)
    .join(_UPDATES, _UPDATES.c.id == _OUTBOX.c.update_id)
    .where(
        _RESIDENTS.c.conversation_id.in_(bindparam("conversation_ids", expanding=True)),
        *_TOLD_LATELY,
        _UPDATES.c.stage != Stage.COMING,
    )
    .distinct()
)


def may_reply_to_update(session: Session, conversation_ids: list[str], now: datetime) -> set[str]:
    """Of these conversations, those whose next message could answer an update.

    Those sent an update that asks something within the reply window: a superset of
    what `update_awaiting_reply` finds, in one query for a batch of messages, so that
    the others' turns can leave out UPDATE_CONTEXT_ACTION (docs/BENCHMARKS.md).
    """
    if not conversation_ids:
        return set()
    rows = session.scalars(
        _MAY_REPLY, {"conversation_ids": conversation_ids, "since": now - REPLY_WINDOW}
    )
    return set(rows)


def _their_update(
    session: Session, outbox_id: int, conversation_id: str
) -> tuple[Resident, OutboxMessage] | None:
    """The resident in this conversation and the update's outbox row, if it was sent to them."""
    resident = find_resident(session, conversation_id)
    row = session.get(OutboxMessage, outbox_id)
    if resident is None or row is None or row.resident_id != resident.id:
        return None
    return resident, row


def record_reaction(
    session: Session,
    outbox_id: int,
    conversation_id: str,
    *,
    kind: str,
    channel: str,
    text: str = "",
    theme_key: str | None = None,
    confidence: float | None = None,
    inbox_id: int | None = None,
) -> UpdateReaction | None:
    """Store a reaction against the update; its words, if any, are kept as a themed view.

    None if the outbox row is not this resident's. Raises NotAllowed after an opt-out.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reaction {kind!r}")
    owned = _their_update(session, outbox_id, conversation_id)
    if owned is None:
        return None
    resident, row = owned
    existing = made_from(session, UpdateReaction, inbox_id)  # a retried turn: recorded
    if existing is not None:
        return existing
    view_id = None
    if text.strip():
        view = store_view(
            session,
            resident,
            text=text,
            theme_key=theme_key,
            confidence=confidence,
            channel=channel,
            inbox_id=inbox_id,
        )
        view_id = view.id
    reaction = UpdateReaction(
        update_id=row.update_id,
        resident_id=resident.id,
        outbox_id=row.id,
        kind=kind,
        view_id=view_id,
        channel=channel,
        inbox_id=inbox_id,
    )
    session.add(reaction)
    session.flush()
    return reaction


def add_to_reaction(
    session: Session,
    outbox_id: int,
    conversation_id: str,
    *,
    channel: str,
    text: str,
    theme_key: str | None = None,
    confidence: float | None = None,
    inbox_id: int | None = None,
) -> UpdateReaction | None:
    """Keep a follow-up ("it's on Victoria Rd") with the resident's reaction to the update.

    None if they have not reacted to it yet. Raises NotAllowed after an opt-out.
    """
    owned = _their_update(session, outbox_id, conversation_id)
    if owned is None:
        return None
    resident, row = owned
    reaction = session.scalars(
        select(UpdateReaction)
        .where(UpdateReaction.outbox_id == row.id, UpdateReaction.resident_id == resident.id)
        .order_by(UpdateReaction.id.desc())
    ).first()
    if reaction is None:
        return None
    view = session.get(View, reaction.view_id) if reaction.view_id is not None else None
    if view is not None:
        add_words(view, text)
        return reaction
    view = store_view(
        session,
        resident,
        text=text,
        theme_key=theme_key,
        confidence=confidence,
        channel=channel,
        inbox_id=inbox_id,
    )
    reaction.view_id = view.id
    session.flush()
    return reaction


@dataclass(frozen=True)
class Reacted:
    """A reply kept against an update: the reaction it was recorded as, or added to."""

    reaction_id: int


def react_to_update(
    session: Session,
    conversation_id: str,
    outbox_id: int,
    *,
    kind: str,
    text: str,
    channel: str,
    follow_up: bool = False,
    theme_key: str | None = None,
    confidence: float | None = None,
    inbox_id: int | None = None,
) -> Reacted | None:
    """The resident in this conversation replies to the update in `outbox_id`.

    A `follow_up` (what they say after "it did not help") joins their reaction when there
    is one; otherwise the reply is recorded as a reaction of `kind`, its words kept as a
    view when it is a comment or says more than yes or no. None if the update was not
    sent to them, they have opted out, or there is nothing to keep.
    """
    try:
        if follow_up:
            added = add_to_reaction(
                session,
                outbox_id,
                conversation_id,
                channel=channel,
                text=text,
                theme_key=theme_key,
                confidence=confidence,
                inbox_id=inbox_id,
            )
            if added is not None:
                return Reacted(added.id)
        kept = text if kind == COMMENT or has_words(text) else ""
        reaction = record_reaction(
            session,
            outbox_id,
            conversation_id,
            kind=kind,
            channel=channel,
            text=kept,
            theme_key=theme_key,
            confidence=confidence,
            inbox_id=inbox_id,
        )
    except (NotAllowed, ValueError):
        return None
    return None if reaction is None else Reacted(reaction.id)
