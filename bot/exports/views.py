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
from bot.services.curation import visible
from bot.services.views import with_theme
from bot.themes import catalogue, label

BATCH = 1000
PSEUDONYMS_KEPT = 100_000  # residents whose pseudonym is remembered during one export
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
    """The views `wanted` picks, with the update each comments on, oldest first (views
    officers hid are never exported nor counted)."""
    query = (
        select(View, UpdateReaction.update_id)
        .outerjoin(UpdateReaction, UpdateReaction.view_id == View.id)
        .where(visible())
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
    # Columns, not ORM objects, and each resident's pseudonym once: measured in
    # docs/BENCHMARKS.md (the export's time halves).
    query = views_query(wanted).with_only_columns(
        View.id, View.resident_id, View.theme_key, View.confidence, View.theme_source,
        View.area, View.channel, View.question_id, View.rating, UpdateReaction.update_id,
        View.created_at, View.text,
    )  # fmt: skip
    labels, no_theme = {theme.key: theme.label for theme in catalogue()}, label(None)
    pseudonyms: dict[int, str] = {}
    result = session.execute(query.execution_options(yield_per=BATCH))
    for chunk in result.partitions(BATCH):
        themes: dict[int, list[str]] = {}
        for view_id, theme_key in session.execute(
            select(ViewTheme.view_id, ViewTheme.theme_key)
            .where(ViewTheme.view_id.in_([row[0] for row in chunk]))
            .order_by(ViewTheme.view_id, ViewTheme.rank)
        ):
            themes.setdefault(view_id, []).append(theme_key)
        for (
            view_id, resident_id, theme_key, confidence, theme_source, area, channel,
            question_id, rating, update_id, created_at, text,
        ) in chunk:  # fmt: skip
            resident = pseudonyms.get(resident_id)
            if resident is None:
                if len(pseudonyms) >= PSEUDONYMS_KEPT:
                    pseudonyms.clear()
                resident = pseudonyms[resident_id] = pseudonym(resident_id, key)
            yield {
                "resident": resident,
                "theme_key": theme_key or "",
                "theme_label": labels.get(theme_key, no_theme),
                "themes": ";".join(themes.get(view_id, [])),
                "confidence": confidence,
                "theme_set_by": theme_source,
                "area": area or "",
                "channel": channel,
                "question_id": question_id,
                "rating": rating,
                "update_id": update_id,
                "created_at": created_at,
                "text": redact(text),
            }
