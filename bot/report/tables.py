"""The report's two tables of views, theme by month and theme by district.

They share their theme totals, so they are one linked table, suppressed together as the
counts export suppresses its cells (`bot.disclosure`): a count from 1 to `minimum - 1` is
HIDDEN, and so is any cell a total would give away.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from itertools import product
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.disclosure import TOTAL, Key, primary, suppressed_cells
from bot.exports.counts import NO_AREA, NO_THEME
from bot.exports.filters import ExportFilter
from bot.exports.views import BATCH, views_query
from bot.models import View, ViewTheme
from bot.report.results import HIDDEN, AreaThemes, Count, ThemeMonths, ThemeSeries
from bot.themes import catalogue, label

TOP_THEMES = 3
MAX_FILLED_MONTHS = 24  # a longer period shows only the months that have views


def _theme_order() -> dict[str, int]:
    order = {t.key: i for i, t in enumerate(catalogue())}
    return order | {NO_THEME: len(order)}


def theme_label(key: str) -> str:
    return label(None if key == NO_THEME else key)


def counted_views(wanted: ExportFilter) -> Select:
    """The views `wanted` picks, less ratings (they have their own section)."""
    return views_query(wanted).where(View.rating.is_(None))


def _tally(session: Session, wanted: ExportFilter) -> tuple[dict[Key, int], dict[Key, int]]:
    """Views and distinct residents per (theme, month, area) cell of the report's tables.

    The report shows two tables, theme by month and theme by area, that share their theme
    totals: they are one linked table, (theme, month, All) and (theme, All, area) cells
    with their totals, suppressed together so that neither gives away what the other hides.
    """
    views: dict[Key, int] = defaultdict(int)
    residents: dict[Key, set[int]] = defaultdict(set)
    query = (
        counted_views(wanted)
        .with_only_columns(View.resident_id, View.created_at, View.area, ViewTheme.theme_key)
        .outerjoin(ViewTheme, ViewTheme.view_id == View.id)
    )
    if wanted.themes:
        query = query.where(ViewTheme.theme_key.in_(wanted.themes))
    for resident_id, created_at, area, theme_key in session.execute(
        query.execution_options(yield_per=BATCH)
    ):
        theme, month = theme_key or NO_THEME, created_at.strftime("%Y-%m")
        keys = {(t, m, TOTAL) for t, m in product((theme, TOTAL), (month, TOTAL))}
        keys |= {(t, TOTAL, a) for t, a in product((theme, TOTAL), (area or NO_AREA, TOTAL))}
        for key in keys:
            views[key] += 1
            residents[key].add(resident_id)
    return dict(views), {key: len(ids) for key, ids in residents.items()}


def views_table(
    session: Session, wanted: ExportFilter, minimum: int
) -> tuple[dict[Key, int], set[Key]]:
    """Views per (theme, month, area) cell and the cells to hide, as in the counts export."""
    views, residents = _tally(session, wanted)
    if not views:
        return {}, set()
    small = frozenset(key for key, n in residents.items() if primary(n, minimum))
    return views, suppressed_cells(views, minimum, also=small)


def _month_keys(since: datetime | None, until: datetime | None, seen: Iterable[str]) -> list[str]:
    """Every month of the period (or from the first to the last month with views)."""
    seen = sorted(set(seen))
    first = since.strftime("%Y-%m") if since else (seen[0] if seen else None)
    last = (until - timedelta(microseconds=1)).strftime("%Y-%m") if until else None
    last = last or (seen[-1] if seen else None)
    if first is None or last is None:
        return seen
    year, month = int(first[:4]), int(first[5:])
    months: list[str] = []
    while f"{year:04d}-{month:02d}" <= last and len(months) <= MAX_FILLED_MONTHS:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if len(months) > MAX_FILLED_MONTHS:
        return seen
    return sorted(set(months) | set(seen))


def by_published_size(keys: Iterable[str], totals: Mapping[str, Count], last: str) -> list[str]:
    """Published totals biggest first, then hidden ones in catalogue order; `last` at the end.

    Hidden totals are not ranked among themselves: the order would tell something of them.
    """
    order = _theme_order()

    def rank(key: str) -> tuple[Any, ...]:
        total = totals[key]
        if key == last:
            return (2, 0, "")
        if isinstance(total, str):
            return (1, order.get(key, len(order)), key)
        return (0, -total, str(order.get(key, len(order))).zfill(4) + key)

    return sorted(keys, key=rank)


def theme_months(
    views: Mapping[Key, int], hidden: set[Key], since: datetime | None, until: datetime | None
) -> ThemeMonths:
    """Views per theme per month, from the linked table `views_table` gives."""
    cells = {(t, m): n for (t, m, a), n in views.items() if a == TOTAL}
    themes = {t for t, _ in cells if t != TOTAL}
    months = _month_keys(since, until, {m for _, m in cells if m != TOTAL})

    def cell(theme: str, month: str) -> Count:
        return HIDDEN if (theme, month, TOTAL) in hidden else cells.get((theme, month), 0)

    totals = {theme: cell(theme, TOTAL) for theme in themes}
    return ThemeMonths(
        months=tuple(months),
        themes=tuple(
            ThemeSeries(
                key=theme,
                label=theme_label(theme),
                months=tuple(cell(theme, month) for month in months),
                total=totals[theme],
            )
            for theme in by_published_size(themes, totals, NO_THEME)
        ),
        totals=tuple(cell(TOTAL, month) for month in months),
        total=cell(TOTAL, TOTAL),
    )


def area_themes(views: Mapping[Key, int], hidden: set[Key]) -> tuple[AreaThemes, ...]:
    """Each district's views and its TOP_THEMES biggest published theme cells."""
    order = _theme_order()
    cells = {(a, t): n for (t, m, a), n in views.items() if m == TOTAL and a != TOTAL}
    areas = {a for a, _ in cells}
    totals: dict[str, Count] = {
        area: HIDDEN if (TOTAL, TOTAL, area) in hidden else cells[(area, TOTAL)] for area in areas
    }
    rows = []
    for area in by_published_size(areas, totals, NO_AREA):
        top = [
            (theme, n)
            for (where, theme), n in cells.items()
            if where == area and theme != TOTAL and (theme, TOTAL, area) not in hidden
        ]
        top.sort(key=lambda c: (-c[1], order.get(c[0], len(order))))
        rows.append(
            AreaThemes(
                area=area,
                label="Not known" if area == NO_AREA else area,
                views=totals[area],
                top=tuple(top[:TOP_THEMES]),
            )
        )
    return tuple(rows)
