"""Storing residents' views by theme, correcting a theme, and summarising what we hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.models import ConsentAnswer, Resident, ThemeSource, View, ViewTheme
from bot.services.inbox import add_once, made_from
from bot.services.residents import find_resident
from bot.themes import is_theme


class NotAllowed(Exception):
    """The resident has not consented to us storing their views."""


@dataclass(frozen=True)
class ViewSummary:
    """How many views a resident has given, by theme."""

    total: int
    by_theme: tuple[tuple[str | None, int], ...]  # most frequent first


def store_view(
    session: Session,
    resident: Resident,
    *,
    text: str,
    theme_key: str | None,
    confidence: float | None,
    channel: str,
    question_id: int | None = None,
    rating: int | None = None,
    inbox_id: int | None = None,
    also: Sequence[tuple[str, float | None]] = (),
) -> View:
    """Store a view under a theme (and `also` under others); NotAllowed without consent.

    `inbox_id`, the message it came from, makes storing it again return the same view (a
    turn that Rasa runs a second time after a failure stores nothing twice).
    """
    existing = made_from(session, View, inbox_id)
    if existing is not None:
        return existing
    if resident.consent != ConsentAnswer.GIVEN or resident.opted_out_at is not None:
        raise NotAllowed
    themes = [(theme_key, confidence)] if theme_key is not None else []
    themes += [(key, p) for key, p in also if key != theme_key and theme_key is not None]
    if any(not is_theme(key) for key, _ in themes):
        raise ValueError(f"unknown theme in {[key for key, _ in themes]!r}")
    if rating is not None and not 1 <= rating <= 5:
        raise ValueError("a rating is 1 to 5")
    text = text.strip()
    if not text:
        raise ValueError("empty view")
    view = View(
        resident_id=resident.id,
        text=text,
        theme_key=theme_key,
        confidence=confidence,
        theme_source=ThemeSource.MODEL,
        channel=channel,
        area=resident.area,
        conversation_id=resident.conversation_id,
        question_id=question_id,
        rating=rating,
        inbox_id=inbox_id,
    )
    view, added = add_once(session, view)
    if added:
        _set_themes(session, view.id, themes)
    return view


@dataclass(frozen=True)
class KeptView:
    """A view kept for the resident in a conversation."""

    view_id: int


def keep_view(
    session: Session,
    conversation_id: str,
    *,
    text: str,
    theme_key: str | None,
    confidence: float | None,
    channel: str,
    inbox_id: int | None = None,
    also: Sequence[tuple[str, float | None]] = (),
) -> KeptView | None:
    """The resident in this conversation gives a view (None: unknown, or not consented).

    As `store_view`, which it calls: `inbox_id` keeps one copy, ValueError on bad input.
    """
    resident = find_resident(session, conversation_id)
    if resident is None:
        return None
    try:
        view = store_view(
            session,
            resident,
            text=text,
            theme_key=theme_key,
            confidence=confidence,
            channel=channel,
            inbox_id=inbox_id,
            also=also,
        )
    except NotAllowed:
        return None
    return KeptView(view.id)


def _set_themes(session: Session, view_id: int, themes: Sequence[tuple[str, float | None]]) -> None:
    """Replace a view's themes (the first is its primary theme)."""
    session.execute(delete(ViewTheme).where(ViewTheme.view_id == view_id))
    session.add_all(
        ViewTheme(view_id=view_id, theme_key=key, confidence=p, rank=rank)
        for rank, (key, p) in enumerate(themes)
    )
    session.flush()


def themes_of(session: Session, view_id: int) -> list[str]:
    """A view's theme keys, the primary first."""
    return list(
        session.scalars(
            select(ViewTheme.theme_key).where(ViewTheme.view_id == view_id).order_by(ViewTheme.rank)
        )
    )


def with_theme(theme_keys: Sequence[str]) -> ColumnElement:
    """A condition on View: the view is under any of `theme_keys` (primary or not)."""
    return View.id.in_(select(ViewTheme.view_id).where(ViewTheme.theme_key.in_(theme_keys)))


def set_view_theme(
    session: Session,
    resident: Resident,
    view_id: int,
    theme_key: str | None,
    *,
    more_text: str = "",
) -> View | None:
    """Put one of the resident's own views under another theme (None: something else).

    `more_text`, what the resident added while correcting it ("..., they intimidate
    people"), is kept with the view's words.
    """
    if theme_key is not None and not is_theme(theme_key):
        raise ValueError(f"unknown theme {theme_key!r}")
    view = session.get(View, view_id)
    if view is None or view.resident_id != resident.id:
        return None
    view.theme_key = theme_key
    view.theme_source = ThemeSource.RESIDENT
    add_words(view, more_text)
    _set_themes(session, view.id, [(theme_key, None)] if theme_key is not None else [])
    return view


@dataclass(frozen=True)
class Rethemed:
    """A resident's view moved from one theme to another (None: no theme)."""

    before: str | None
    after: str | None


def correct_view_theme(
    session: Session,
    conversation_id: str,
    view_id: int,
    theme_key: str | None,
    *,
    more_text: str = "",
) -> Rethemed | None:
    """The resident in this conversation re-themes their view (None: not theirs)."""
    resident = find_resident(session, conversation_id)
    view = session.get(View, view_id) if resident is not None else None
    if resident is None or view is None:
        return None
    before = view.theme_key
    if set_view_theme(session, resident, view_id, theme_key, more_text=more_text) is None:
        return None
    return Rethemed(before, theme_key)


def add_words(view: View, more_text: str) -> None:
    """Keep more of the resident's words with a view (once: a retried turn adds nothing)."""
    more_text = more_text.strip()
    if more_text and not view.text.endswith(more_text):
        view.text = f"{view.text}\n{more_text}"


def set_area(session: Session, resident: Resident, area: str) -> None:
    """Record the resident's postcode district, and file their unplaced views under it."""
    resident.area = area
    session.execute(
        update(View)
        .where(View.resident_id == resident.id, View.area.is_(None))
        .values(area=area)
        .execution_options(synchronize_session=False)
    )
    session.flush()


@dataclass(frozen=True)
class AreaNoted:
    """The postcode district now recorded for a resident."""

    area: str


def note_area(session: Session, conversation_id: str, area: str) -> AreaNoted | None:
    """Record the area of the resident in this conversation (None: unknown resident)."""
    resident = find_resident(session, conversation_id)
    if resident is None:
        return None
    set_area(session, resident, area)
    return AreaNoted(area)


def summarise_views(session: Session, resident: Resident) -> ViewSummary:
    """Count the resident's stored views by theme (a view about two things under both)."""
    mine = View.resident_id == resident.id
    total = session.scalar(select(func.count(View.id)).where(mine)) or 0
    counts: dict[str | None, int] = dict(
        session.execute(
            select(ViewTheme.theme_key, func.count())
            .join(View, View.id == ViewTheme.view_id)
            .where(mine)
            .group_by(ViewTheme.theme_key)
        ).all()
    )
    unthemed = session.scalar(select(func.count(View.id)).where(mine, View.theme_key.is_(None)))
    if unthemed:
        counts[None] = unthemed
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] or "~"))
    return ViewSummary(total=total, by_theme=tuple(ordered))
