"""One row per view (check-in answers and comments on updates included)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.exports.filters import ExportFilter
from bot.models import UpdateReaction, View, ViewTheme
from bot.pseudonyms import pseudonym
from bot.redaction import redact
from bot.services.views import with_theme
from bot.themes import label

BATCH = 1000
VIEW_COLUMNS = {
    "resident": "text",
    "theme_key": "text",
    "theme_label": "text",
    "themes": "text",
    "confidence": "float",
    "theme_set_by": "text",
    "area": "text",
    "channel": "text",
    "question_id": "int",
    "rating": "int",
    "update_id": "int",
    "created_at": "time",
    "text": "text",
}


def views_query(wanted: ExportFilter):  # type: ignore[no-untyped-def]
    """The views `wanted` picks, with the update each comments on, oldest first."""
    query = (
        select(View, UpdateReaction.update_id)
        .outerjoin(UpdateReaction, UpdateReaction.view_id == View.id)
        .order_by(View.id)
    )
    if wanted.since:
        query = query.where(View.created_at >= wanted.since)
    if wanted.until:
        query = query.where(View.created_at < wanted.until)
    if wanted.themes:
        query = query.where(with_theme(list(wanted.themes)))
    if wanted.areas:
        query = query.where(View.area.in_(wanted.areas))
    if wanted.channel:
        query = query.where(View.channel == wanted.channel)
    if wanted.question_id is not None:
        query = query.where(View.question_id == wanted.question_id)
    if wanted.update_id is not None:
        query = query.where(UpdateReaction.update_id == wanted.update_id)
    return query


def view_rows(session: Session, wanted: ExportFilter, key: str) -> Iterator[dict[str, Any]]:
    """One row per view, pseudonymised and redacted, read BATCH at a time."""
    pseudonym(0, key)  # refuses at once, before anything is read, without a key
    result = session.execute(views_query(wanted).execution_options(yield_per=BATCH))
    for chunk in result.partitions(BATCH):
        ids = [view.id for view, _ in chunk]
        themes: dict[int, list[str]] = {}
        for view_id, theme_key in session.execute(
            select(ViewTheme.view_id, ViewTheme.theme_key)
            .where(ViewTheme.view_id.in_(ids))
            .order_by(ViewTheme.view_id, ViewTheme.rank)
        ):
            themes.setdefault(view_id, []).append(theme_key)
        for view, update_id in chunk:
            yield {
                "resident": pseudonym(view.resident_id, key),
                "theme_key": view.theme_key or "",
                "theme_label": label(view.theme_key) if view.theme_key else "Something else",
                "themes": ";".join(themes.get(view.id, [])),
                "confidence": view.confidence,
                "theme_set_by": view.theme_source,
                "area": view.area or "",
                "channel": view.channel,
                "question_id": view.question_id,
                "rating": view.rating,
                "update_id": update_id,
                "created_at": view.created_at,
                "text": redact(view.text),
            }
