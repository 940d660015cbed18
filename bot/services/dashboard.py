"""Read-only queries for the officer console: views by theme and week, views, deliveries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.models import (
    CheckinQuestion,
    ConsoleUser,
    OutboxMessage,
    OutboxStatus,
    ReactionKind,
    Resident,
    ThemeSource,
    Update,
    UpdateReaction,
    UpdateView,
    View,
    ViewTheme,
    utcnow,
)
from bot.services.curation import visible
from bot.services.views import with_theme

NO_THEME = "none"  # the filter value for views under "something else"
DELIVERY_STATUSES = (
    OutboxStatus.QUEUED,
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.DELIVERED,
    OutboxStatus.FAILED,
    OutboxStatus.OPTED_OUT,
    OutboxStatus.SKIPPED,
)
IN_FLIGHT = (OutboxStatus.QUEUED, OutboxStatus.SENDING)
REACTION_KINDS = tuple(ReactionKind)


def resident_tag(conversation_id: str) -> str:
    """A short opaque tag for a resident: tells views of one person apart, reveals nothing."""
    return "R-" + hashlib.sha256(conversation_id.encode()).hexdigest()[:8]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# Views per theme per week ---------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyCounts:
    """Views per theme in each of the last weeks (weeks start on Monday, UTC)."""

    weeks: list[date]  # the Monday of each week, oldest first
    by_theme: dict[str | None, list[int]]  # theme key (None: something else) -> per week


def views_per_week(session: Session, weeks: int = 12, now: datetime | None = None) -> WeeklyCounts:
    """How many views each theme received in each of the last `weeks` weeks."""
    today = (now or utcnow()).astimezone(timezone.utc).date()
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    starts = [_day_start(m) for m in mondays]
    # One portable query: the week's index from the newest start the view is past.
    week = case(
        *[(View.created_at >= start, i) for i, start in reversed(list(enumerate(starts)))],
        else_=0,
    ).label("week")
    recent = and_(View.created_at >= starts[0], visible())  # hidden views are not counted
    # A view about two things counts under each; "something else" under None.
    rows = (
        session.execute(
            select(ViewTheme.theme_key, week, func.count())
            .join(View, View.id == ViewTheme.view_id)
            .where(recent)
            .group_by(ViewTheme.theme_key, week)
        ).all()
        + session.execute(
            select(View.theme_key, week, func.count())
            .where(recent, View.theme_key.is_(None))
            .group_by(View.theme_key, week)
        ).all()
    )
    by_theme: dict[str | None, list[int]] = {}
    for theme_key, index, count in rows:
        by_theme.setdefault(theme_key, [0] * weeks)[index] += count
    return WeeklyCounts(mondays, by_theme)


# Views ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewFilter:
    """What the officer asked to see; empty fields do not filter."""

    theme: str = ""  # a theme key, or NO_THEME
    area: str = ""  # a postcode district
    channel: str = ""
    since: date | None = None  # from the start of this day (UTC)
    until: date | None = None  # to the end of this day (UTC)
    text: str = ""  # words the view contains (case-insensitive)
    ids: tuple[int, ...] = field(default_factory=tuple)  # only these views
    hidden: bool = False  # only the views officers hid (otherwise only those they did not)


@dataclass(frozen=True)
class ViewRow:
    """One view as the console lists it."""

    id: int
    created_at: datetime
    theme_key: str | None
    confidence: float | None
    channel: str
    area: str | None
    text: str
    resident: str  # resident_tag()
    theme_source: str = ThemeSource.MODEL  # who set its theme
    hidden_reason: str | None = None  # why an officer hid it (bot.services.curation)


@dataclass(frozen=True)
class Page:
    """One page of views and where it sits."""

    rows: list[ViewRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


def _filtered(query: Select, wanted: ViewFilter) -> Select:
    query = query.where(View.hidden_at.is_not(None) if wanted.hidden else visible())
    if wanted.theme == NO_THEME:
        query = query.where(View.theme_key.is_(None))
    elif wanted.theme:
        query = query.where(with_theme([wanted.theme]))
    if wanted.area:
        query = query.where(View.area == wanted.area.strip().upper())
    if wanted.channel:
        query = query.where(View.channel == wanted.channel)
    if wanted.since:
        query = query.where(View.created_at >= _day_start(wanted.since))
    if wanted.until:
        query = query.where(View.created_at < _day_start(wanted.until + timedelta(days=1)))
    if wanted.text.strip():
        query = query.where(
            func.lower(View.text).contains(wanted.text.strip().lower(), autoescape=True)
        )
    if wanted.ids:
        query = query.where(View.id.in_(wanted.ids))
    return query


def latest_views(session: Session, wanted: ViewFilter, page: int = 1, per_page: int = 25) -> Page:
    """Views matching the filter, newest first, one page of them, their words redacted."""
    total = session.scalar(_filtered(select(func.count()).select_from(View), wanted)) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = session.execute(
        _filtered(select(View, Resident.conversation_id).join(Resident), wanted)
        .order_by(View.created_at.desc(), View.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    # The list shows words with personal details taken out, as every export does (issue 10).
    return Page(
        [_row(view, conversation, view.redacted_words()) for view, conversation in rows],
        total,
        page,
        per_page,
    )


def _row(view: View, conversation_id: str, text: str | None = None) -> ViewRow:
    return ViewRow(
        id=view.id,
        created_at=view.created_at,
        theme_key=view.theme_key,
        confidence=view.confidence,
        channel=view.channel,
        area=view.area,
        text=view.text if text is None else text,
        resident=resident_tag(conversation_id),
        theme_source=view.theme_source,
        hidden_reason=view.hidden_reason if view.hidden_at is not None else None,
    )


def view_channels(session: Session) -> list[str]:
    """The channels views came in on, for the filter's choices."""
    return list(session.scalars(select(View.channel).distinct().order_by(View.channel)).all())


@dataclass(frozen=True)
class AnsweredBy:
    """An update that answers a view: hand-picked it, or (published) matches its targets."""

    id: int
    title: str
    published_at: datetime | None
    picked: bool  # False: it matches the update's themes, areas and dates
    told: bool  # the view's resident was sent it


@dataclass(frozen=True)
class ViewDetail:
    """One view with what surrounds it."""

    row: ViewRow
    theme_source: str
    theme_set_at: datetime | None  # when its theme was set (by theme_source)
    themes: list[str]  # every theme it is under, the primary first
    hidden_at: datetime | None
    redacted_at: datetime | None
    question: str | None  # the check-in question it answers
    rating: int | None
    updates: list[AnsweredBy]  # updates that picked it or, published, match it
    others: list[ViewRow]  # the same resident's other views, newest first, redacted
    other_total: int  # how many other views the resident gave in all


ANSWER_LOOKBACK = 50  # published updates checked for matching a view
OTHER_VIEWS = 20  # the resident's other views listed on a view's page


def _answered_by(session: Session, view: View) -> list[AnsweredBy]:
    from bot.services.updates import targets_condition  # updates imports this module

    picked = dict(
        session.execute(
            select(Update.id, Update.title)
            .join(UpdateView, UpdateView.update_id == Update.id)
            .where(UpdateView.view_id == view.id)
        ).all()
    )
    published = session.scalars(
        select(Update)
        .where(Update.published_at.is_not(None))
        .order_by(Update.published_at.desc(), Update.id.desc())
        .limit(ANSWER_LOOKBACK)
    ).all()
    told = set(
        session.scalars(
            select(OutboxMessage.update_id).where(OutboxMessage.resident_id == view.resident_id)
        )
    )
    found: dict[int, AnsweredBy] = {}
    for update in published:
        condition = targets_condition(update)
        if update.id in picked or (
            condition is not None
            and session.scalar(select(View.id).where(View.id == view.id, condition)) is not None
        ):
            found[update.id] = AnsweredBy(
                update.id, update.title, update.published_at, update.id in picked,
                update.id in told,
            )  # fmt: skip
    for update_id, title in picked.items():  # drafts, and older published updates
        if update_id not in found:
            update = session.get(Update, update_id)
            published_at = update.published_at if update else None
            found[update_id] = AnsweredBy(update_id, title, published_at, True, update_id in told)
    return sorted(found.values(), key=lambda a: a.id)


def view_detail(session: Session, view_id: int) -> ViewDetail | None:
    """A view, the question it answers, the updates that answer it and the resident's
    other views; None if unknown."""
    found = session.execute(
        select(View, Resident.conversation_id).join(Resident).where(View.id == view_id)
    ).first()
    if found is None:
        return None
    view, conversation = found
    question = session.get(CheckinQuestion, view.question_id) if view.question_id else None
    same_resident = (View.resident_id == view.resident_id, View.id != view.id)
    others = session.scalars(
        select(View)
        .where(*same_resident)
        .order_by(View.created_at.desc(), View.id.desc())
        .limit(OTHER_VIEWS)
    ).all()
    return ViewDetail(
        row=_row(view, conversation),
        theme_source=view.theme_source,
        theme_set_at=view.theme_set_at,
        themes=list(
            session.scalars(
                select(ViewTheme.theme_key)
                .where(ViewTheme.view_id == view.id)
                .order_by(ViewTheme.rank)
            )
        ),
        hidden_at=view.hidden_at,
        redacted_at=view.redacted_at,
        question=question.wording if question else None,
        rating=view.rating,
        updates=_answered_by(session, view),
        others=[_row(other, conversation, other.redacted_words()) for other in others],
        other_total=session.scalar(select(func.count()).select_from(View).where(*same_resident))
        or 0,
    )


# Updates and their delivery -------------------------------------------------------------


@dataclass(frozen=True)
class UpdateRow:
    """An update in the list: drafted or published, and how far its sending got."""

    id: int
    title: str
    created_by: str
    created_at: datetime
    published_at: datetime | None
    recipients: int
    in_flight: int


def list_updates(session: Session, limit: int = 100) -> list[UpdateRow]:
    """The newest updates first, with their outbox totals."""
    counts = (
        select(
            OutboxMessage.update_id,
            func.count().label("recipients"),
            func.sum(case((OutboxMessage.status.in_(IN_FLIGHT), 1), else_=0)).label("in_flight"),
        )
        .group_by(OutboxMessage.update_id)
        .subquery()
    )
    rows = session.execute(
        select(Update, counts.c.recipients, counts.c.in_flight)
        .outerjoin(counts, counts.c.update_id == Update.id)
        .order_by(Update.created_at.desc(), Update.id.desc())
        .limit(limit)
    ).all()
    return [
        UpdateRow(
            u.id, u.title, u.created_by, u.created_at, u.published_at, int(n or 0), int(f or 0)
        )
        for u, n, f in rows
    ]


def account_names(session: Session, emails: list[str]) -> dict[str, str]:
    """Console accounts' names by email, for showing who did something."""
    wanted = [e.lower() for e in emails if e and "@" in e]
    if not wanted:
        return {}
    rows = session.execute(
        select(ConsoleUser.email, ConsoleUser.name).where(ConsoleUser.email.in_(wanted))
    ).all()
    return {email: name for email, name in rows}


def update_targets(update: Update) -> tuple[list[str], list[str]]:
    """The themes and districts an update answers."""
    targets = update.targets
    return list(targets.themes), list(targets.districts)


def picked_views(session: Session, update_id: int) -> list[int]:
    """Ids of the views an officer hand-picked for an update."""
    return list(
        session.scalars(
            select(UpdateView.view_id)
            .where(UpdateView.update_id == update_id)
            .order_by(UpdateView.view_id)
        ).all()
    )


@dataclass(frozen=True)
class FailedRow:
    """A message that could not be delivered, and the provider's reason code."""

    outbox_id: int
    channel: str
    status: str
    error_code: str | None
    resident: str


@dataclass(frozen=True)
class Delivery:
    """Where an update's messages are: counts by status, and the failures."""

    counts: dict[str, int]
    total: int
    failed: list[FailedRow]

    @property
    def in_flight(self) -> bool:
        """True while any message waits to be sent or is being sent."""
        return any(self.counts[s] for s in IN_FLIGHT)


def delivery(session: Session, update_id: int) -> Delivery:
    """Counts of the update's outbox rows by status, and the failed ones."""
    counts: dict[str, int] = dict.fromkeys(DELIVERY_STATUSES, 0)
    for status, n in session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.update_id == update_id)
        .group_by(OutboxMessage.status)
    ).all():
        counts[status] = counts.get(status, 0) + n
    failed = session.execute(
        select(OutboxMessage, Resident.conversation_id)
        .join(Resident, Resident.id == OutboxMessage.resident_id)
        .where(
            OutboxMessage.update_id == update_id,
            OutboxMessage.status.in_((OutboxStatus.FAILED, OutboxStatus.OPTED_OUT)),
        )
        .order_by(OutboxMessage.id)
    ).all()
    return Delivery(
        counts=counts,
        total=sum(counts.values()),
        failed=[
            FailedRow(row.id, row.channel, row.status, row.error_code, resident_tag(conversation))
            for row, conversation in failed
        ],
    )


@dataclass(frozen=True)
class Comment:
    """A resident's comment on an update, with the theme it was stored under."""

    created_at: datetime
    text: str
    theme_key: str | None
    channel: str
    resident: str


@dataclass(frozen=True)
class Reactions:
    """How residents reacted to an update."""

    counts: dict[str, int]  # helped, not_helped, comment
    comments: list[Comment]


def reactions(session: Session, update_id: int) -> Reactions:
    """Residents' reactions to an update: counted by kind, comments listed newest first."""
    counts: dict[str, int] = dict.fromkeys(REACTION_KINDS, 0)
    for kind, n in session.execute(
        select(UpdateReaction.kind, func.count())
        .where(UpdateReaction.update_id == update_id)
        .group_by(UpdateReaction.kind)
    ).all():
        counts[kind] = counts.get(kind, 0) + n
    rows = session.execute(
        select(UpdateReaction, View, Resident.conversation_id)
        .join(View, View.id == UpdateReaction.view_id)
        .join(Resident, Resident.id == UpdateReaction.resident_id)
        .where(UpdateReaction.update_id == update_id, UpdateReaction.kind == ReactionKind.COMMENT)
        .order_by(UpdateReaction.created_at.desc(), UpdateReaction.id.desc())
    ).all()
    comments = [
        Comment(reaction.created_at, view.text, view.theme_key, reaction.channel,
                resident_tag(conversation))
        for reaction, view, conversation in rows
    ]  # fmt: skip
    return Reactions(counts, comments)
