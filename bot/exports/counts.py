"""Counts of views and of residents per cell (theme, month, area, channel), suppressed.

A view about two themes counts under each. Every dimension also gets an "All" row: views
there are the sum of the rows above; residents are the distinct residents (one who spoke
in two months counts once in the total). A cell whose views or residents are from 1 to
`EXPORT_MIN_COUNT - 1` shows `*`, and so does any cell that a total would give away
(`bot.disclosure`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from itertools import product
from typing import Any

from sqlalchemy import null
from sqlalchemy.orm import Session

from bot.disclosure import TOTAL, Key, primary, suppressed_cells
from bot.exports.filters import ExportError, ExportFilter
from bot.exports.views import BATCH, views_query
from bot.models import View, ViewTheme
from bot.themes import catalogue, label

DIMENSIONS = ("theme", "month", "area", "channel")
HIDDEN = "*"
NO_THEME, NO_AREA = "none", "unknown"


def parse_by(text: str) -> tuple[str, ...]:
    """The dimensions of `--by theme,month,area`, in the order of DIMENSIONS."""
    asked = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in asked if part not in DIMENSIONS]
    if unknown or not asked:
        raise ExportError(f"--by takes some of {','.join(DIMENSIONS)}, got {text!r}")
    return tuple(d for d in DIMENSIONS if d in asked)


def count_columns(by: tuple[str, ...]) -> dict[str, str]:
    """The columns of a counts table by `by`."""
    columns = {}
    for dimension in by:
        columns[dimension] = "text"
        if dimension == "theme":
            columns["theme_label"] = "text"
    return columns | {"views": "int", "residents": "int"}


def tally(
    session: Session, wanted: ExportFilter, by: tuple[str, ...]
) -> tuple[dict[Key, int], dict[Key, int]]:
    """Views and distinct residents per cell, totals ("All") included."""
    views: dict[Key, int] = defaultdict(int)
    residents: dict[Key, set[int]] = defaultdict(set)
    if "theme" in by:
        # One row per theme of the view (a view about two themes counts under each).
        query = (
            views_query(wanted)
            .with_only_columns(
                View.resident_id, View.created_at, View.area, View.channel, ViewTheme.theme_key
            )
            .outerjoin(ViewTheme, ViewTheme.view_id == View.id)
        )
        if wanted.themes:
            query = query.where(ViewTheme.theme_key.in_(wanted.themes))
    else:
        # Without a theme dimension a view is one view, however many themes it has.
        query = views_query(wanted).with_only_columns(
            View.resident_id, View.created_at, View.area, View.channel, null()
        )
    for resident_id, created_at, area, channel, theme_key in session.execute(
        query.execution_options(yield_per=BATCH)
    ):
        values = {
            "theme": theme_key or NO_THEME,
            "month": created_at.strftime("%Y-%m"),
            "area": area or NO_AREA,
            "channel": channel,
        }
        for key in product(*((values[d], TOTAL) for d in by)):
            views[key] += 1
            residents[key].add(resident_id)
    return dict(views), {key: len(ids) for key, ids in residents.items()}


def _order(key: Key, by: tuple[str, ...]) -> tuple[Any, ...]:
    themes = [t.key for t in catalogue()]
    parts: list[Any] = []
    for dimension, value in zip(by, key, strict=True):
        position = themes.index(value) if dimension == "theme" and value in themes else len(themes)
        parts.append((value == TOTAL, position if dimension == "theme" else 0, value))
    return tuple(parts)


def count_rows(
    session: Session, wanted: ExportFilter, by: tuple[str, ...], minimum: int
) -> Iterator[dict[str, Any]]:
    """The counts table, cells before totals, hidden cells as `*`."""
    views, residents = tally(session, wanted, by)
    if not views:
        return
    small = frozenset(key for key, n in residents.items() if primary(n, minimum))
    hidden = suppressed_cells(views, minimum, also=small)
    for key in sorted(views, key=lambda k: _order(k, by)):
        row: dict[str, Any] = {}
        for dimension, value in zip(by, key, strict=True):
            row[dimension] = value
            if dimension == "theme":
                row["theme_label"] = (
                    "All themes" if value == TOTAL else label(None if value == NO_THEME else value)
                )
        secret = key in hidden
        row["views"] = HIDDEN if secret else views[key]
        row["residents"] = HIDDEN if secret else residents[key]
        yield row
