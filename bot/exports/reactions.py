"""Residents' reactions to each published update: helped, not helped, or a comment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.exports.filters import ExportFilter
from bot.models import Update, UpdateReaction, View
from bot.pseudonyms import pseudonym
from bot.redaction import redact
from bot.services.curation import visible
from bot.targets import Targets

BATCH = 1000
REACTION_COLUMNS = {
    "resident": "text",
    "update_id": "int",
    "update_title": "text",
    "update_themes": "text",
    "update_areas": "text",
    "reaction": "text",
    "channel": "text",
    "created_at": "time",
    "text": "text",
}


def reaction_rows(session: Session, wanted: ExportFilter, key: str) -> Iterator[dict[str, Any]]:
    """One row per reaction, oldest first; --theme and --area pick the updates they were to."""
    pseudonym(0, key)  # refuses at once, before anything is read, without a key
    query = (
        select(UpdateReaction, Update.title, Update.themes, Update.areas, View.text)
        .join(Update, Update.id == UpdateReaction.update_id)
        .outerjoin(View, View.id == UpdateReaction.view_id)
        .where(or_(View.id.is_(None), visible()))  # a comment officers hid is left out
        .order_by(UpdateReaction.id)
    )
    if wanted.since:
        query = query.where(UpdateReaction.created_at >= wanted.since)
    if wanted.until:
        query = query.where(UpdateReaction.created_at < wanted.until)
    if wanted.channel:
        query = query.where(UpdateReaction.channel == wanted.channel)
    if wanted.update_id is not None:
        query = query.where(UpdateReaction.update_id == wanted.update_id)
    result = session.execute(query.execution_options(yield_per=BATCH))
    for reaction, title, themes_json, areas_json, text in result:
        targets = Targets.from_json(themes_json, areas_json)
        themes, areas = targets.themes, targets.districts
        # An update with no themes (or no areas) is about every theme (or everywhere).
        if wanted.themes and themes and not set(themes) & set(wanted.themes):
            continue
        if wanted.areas and areas and not set(areas) & set(wanted.areas):
            continue
        yield {
            "resident": pseudonym(reaction.resident_id, key),
            "update_id": reaction.update_id,
            "update_title": title,
            "update_themes": ";".join(themes),
            "update_areas": ";".join(areas),
            "reaction": reaction.kind,
            "channel": reaction.channel,
            "created_at": reaction.created_at,
            "text": redact(text) if text else "",
        }
