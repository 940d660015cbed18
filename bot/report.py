"""The engagement report: one self-contained HTML file to share beyond the team.

`gather_report` reads the numbers (dialect-neutral queries; months bucketed in Python)
and suppresses them as the counts export does: a count from 1 to `minimum - 1` is `*`,
and so is any cell a total would give away (`bot.disclosure`); the two tables of views
share their totals, so they are suppressed together. A share is shown only when both of
its counts are, a mean only when its number of answers is. `render_report` draws the page
from those published numbers alone: inline CSS and SVG, no script, nothing fetched.
`write_report` writes the file all or nothing and audits it. No resident's words, number,
chat id or name is ever read: only officers' titles and questions appear as text.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from html import escape
from itertools import product
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from bot.disclosure import TOTAL, Key, primary, suppressed_cells
from bot.exports.counts import NO_AREA, NO_THEME
from bot.exports.filters import ExportError, ExportFilter
from bot.exports.views import BATCH, views_query
from bot.models import (
    CheckinQuestion,
    OutboxMessage,
    Update,
    UpdateReaction,
    UpdateView,
    View,
    ViewTheme,
)
from bot.services import audit
from bot.themes import catalogue, label

HIDDEN = "*"
Count = int | str  # a published count, or HIDDEN
TOLD = ("sent", "delivered")
SCALE = (1, 2, 3, 4, 5)
TOP_THEMES = 3
MAX_FILLED_MONTHS = 24  # a longer period shows only the months that have views


# ---------------------------------------------------------------------------------------
# The numbers
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """The headline numbers of the period."""

    views: Count
    residents: Count
    updates: int  # each is listed by name below, so the number itself is not suppressed
    themes: int  # themes with at least one view


@dataclass(frozen=True)
class ThemeSeries:
    """One theme's views in each month of the period, and in all."""

    key: str  # a theme key, or NO_THEME
    label: str
    months: tuple[Count, ...]
    total: Count


@dataclass(frozen=True)
class ThemeMonths:
    """Views per theme per month, with the totals of each month."""

    months: tuple[str, ...]  # "2026-09"
    themes: tuple[ThemeSeries, ...]
    totals: tuple[Count, ...]
    total: Count


@dataclass(frozen=True)
class AreaThemes:
    """One postcode district: its views and its biggest themes (published cells only)."""

    area: str  # a district, or NO_AREA
    label: str
    views: Count
    top: tuple[tuple[str, int], ...]  # (theme key, views), most first


@dataclass(frozen=True)
class ScaleResult:
    """The answers to one 1-5 check-in question."""

    question_id: int
    wording: str
    answers: Count
    distribution: tuple[Count, ...]  # answers 1 to 5
    mean: float | None  # one decimal; None when the number of answers is hidden


@dataclass(frozen=True)
class UpdateResult:
    """One published "you said, we did" update: whom it reached and how they reacted."""

    update_id: int
    title: str
    published_at: datetime
    coming: bool  # still to happen: residents were not asked whether it helped
    themes: tuple[str, ...]
    areas: tuple[str, ...]
    residents: Count  # outbox rows: the residents it was for
    sent: Count  # sent or delivered
    delivered: Count  # confirmed by the network (SMS)
    helped: Count
    not_helped: Count
    comments: Count


@dataclass(frozen=True)
class LoopResult:
    """Closing the loop on one theme: who spoke, who was told of a change, did it help."""

    key: str
    label: str
    spoke: Count
    told: Count
    answered: Count  # of those told, residents who said whether it helped
    helped: Count

    @property
    def told_share(self) -> float | None:
        """Told / spoke, when both are published."""
        return share(self.told, self.spoke)

    @property
    def helped_share(self) -> float | None:
        """Said it helped / answered, when both are published."""
        return share(self.helped, self.answered)


@dataclass(frozen=True)
class Report:
    """Everything the report shows, suppressed: nothing else reaches the HTML."""

    org_name: str
    since: datetime | None
    until: datetime | None  # exclusive
    filters: dict[str, Any]
    minimum: int
    generated_at: datetime
    summary: Summary
    theme_months: ThemeMonths
    areas: tuple[AreaThemes, ...]
    scales: tuple[ScaleResult, ...]
    updates: tuple[UpdateResult, ...]
    loops: tuple[LoopResult, ...]
    timezone: str = "UTC"


def published(count: int, minimum: int, hidden: bool = False) -> Count:
    """The count as published: `*` when it is from 1 to minimum - 1, or `hidden`."""
    return HIDDEN if hidden or primary(count, minimum) else count


def share(numerator: Count, denominator: Count) -> float | None:
    """numerator / denominator when both are published and the denominator is not 0."""
    if isinstance(numerator, str) or isinstance(denominator, str) or not denominator:
        return None
    return numerator / denominator


def _theme_order() -> dict[str, int]:
    order = {t.key: i for i, t in enumerate(catalogue())}
    return order | {NO_THEME: len(order)}


def _theme_label(key: str) -> str:
    return label(None if key == NO_THEME else key)


def _views(wanted: ExportFilter):  # type: ignore[no-untyped-def]
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
        _views(wanted)
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


def _by_published_size(keys: Iterable[str], totals: Mapping[str, Count], last: str) -> list[str]:
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
                label=_theme_label(theme),
                months=tuple(cell(theme, month) for month in months),
                total=totals[theme],
            )
            for theme in _by_published_size(themes, totals, NO_THEME)
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
    for area in _by_published_size(areas, totals, NO_AREA):
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


def summary(
    session: Session, wanted: ExportFilter, minimum: int, grand_total: Count, updates: int
) -> Summary:
    """Views and residents in the period (hidden with the table's total), updates, themes."""
    rows = _views(wanted).with_only_columns(View.id, View.resident_id).order_by(None)
    rows = rows.subquery()
    n_views, n_residents = session.execute(
        select(func.count(distinct(rows.c.id)), func.count(distinct(rows.c.resident_id)))
    ).one()
    themes = session.scalar(
        select(func.count(distinct(ViewTheme.theme_key))).where(
            ViewTheme.view_id.in_(select(rows.c.id)),
            *([ViewTheme.theme_key.in_(wanted.themes)] if wanted.themes else []),
        )
    )
    # A view or a resident count that is small hides both, as in the counts export; and
    # when the table's total is hidden, so is the number of views.
    small = primary(n_views, minimum) or primary(n_residents, minimum)
    return Summary(
        views=published(n_views, minimum, small or isinstance(grand_total, str)),
        residents=published(n_residents, minimum, small),
        updates=updates,
        themes=themes or 0,
    )


def _json_list(text: str | None) -> list[str]:
    return list(json.loads(text or "[]"))


def scale_results(session: Session, wanted: ExportFilter, minimum: int) -> tuple[ScaleResult, ...]:
    """The 1-5 questions answered in the period, each with its distribution, suppressed.

    Ratings carry no theme of their own: `--theme` keeps the questions aimed at a theme.
    """
    questions = {
        qid: wording
        for qid, wording, themes in session.execute(
            select(CheckinQuestion.id, CheckinQuestion.wording, CheckinQuestion.themes)
            .where(CheckinQuestion.kind == "scale")
            .order_by(CheckinQuestion.id)
        )
        if not wanted.themes or set(_json_list(themes)) & set(wanted.themes)
    }
    if not questions:
        return ()
    answers: dict[int, dict[Key, int]] = defaultdict(lambda: defaultdict(int))
    residents: dict[int, dict[Key, set[int]]] = defaultdict(lambda: defaultdict(set))
    query = (
        views_query(replace(wanted, themes=()))
        .with_only_columns(View.question_id, View.rating, View.resident_id)
        .where(View.rating.is_not(None), View.question_id.in_(list(questions)))
    )
    for question_id, rating, resident_id in session.execute(query):
        for key in ((str(rating),), (TOTAL,)):
            answers[question_id][key] += 1
            residents[question_id][key].add(resident_id)
    results = []
    for question_id, wording in questions.items():
        counts = dict(answers.get(question_id, {}))
        if not counts:
            continue
        small = frozenset(
            k for k, ids in residents[question_id].items() if primary(len(ids), minimum)
        )
        hidden = suppressed_cells(counts, minimum, also=small)
        distribution = tuple(
            HIDDEN if (str(r),) in hidden else counts.get((str(r),), 0) for r in SCALE
        )
        total = HIDDEN if (TOTAL,) in hidden else counts[(TOTAL,)]
        mean = None
        if not isinstance(total, str):
            ratings = sum(int(key[0]) * n for key, n in counts.items() if key[0] != TOTAL)
            mean = round(ratings / total, 1)
        results.append(ScaleResult(question_id, wording, total, distribution, mean))
    return tuple(results)


def _wanted_update(themes: list[str], areas: list[str], wanted: ExportFilter) -> bool:
    """An update with no themes (or no areas) is about every theme (or everywhere)."""
    if wanted.themes and themes and not set(themes) & set(wanted.themes):
        return False
    return not (wanted.areas and areas and not set(areas) & set(wanted.areas))


def update_results(
    session: Session, wanted: ExportFilter, minimum: int
) -> tuple[UpdateResult, ...]:
    """The updates published in the period, their reach and residents' reactions so far."""
    query = select(
        Update.id, Update.title, Update.themes, Update.areas, Update.stage, Update.published_at
    ).where(Update.published_at.is_not(None))
    if wanted.since:
        query = query.where(Update.published_at >= wanted.since)
    if wanted.until:
        query = query.where(Update.published_at < wanted.until)
    found = [
        row
        for row in session.execute(query.order_by(Update.published_at, Update.id))
        if _wanted_update(_json_list(row.themes), _json_list(row.areas), wanted)
    ]
    ids = [row.id for row in found]
    if not ids:
        return ()
    statuses: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    outbox = (
        select(OutboxMessage.update_id, OutboxMessage.status, func.count())
        .where(OutboxMessage.update_id.in_(ids))
        .group_by(OutboxMessage.update_id, OutboxMessage.status)
    )
    reactions = select(
        UpdateReaction.update_id, UpdateReaction.kind, UpdateReaction.resident_id
    ).where(UpdateReaction.update_id.in_(ids))
    if wanted.channel:
        outbox = outbox.where(OutboxMessage.channel == wanted.channel)
        reactions = reactions.where(UpdateReaction.channel == wanted.channel)
    for update_id, status, n in session.execute(outbox):
        statuses[update_id][status] += n
    reacted: dict[tuple[int, str], set[int]] = defaultdict(set)
    for update_id, kind, resident_id in session.execute(reactions):
        reacted[(update_id, kind)].add(resident_id)

    def shown(n: int) -> Count:
        return published(n, minimum)

    results = []
    for row in found:
        counts = statuses[row.id]
        results.append(
            UpdateResult(
                update_id=row.id,
                title=row.title,
                published_at=row.published_at,
                coming=row.stage == "coming",
                themes=tuple(_json_list(row.themes)),
                areas=tuple(_json_list(row.areas)),
                residents=shown(sum(counts.values())),
                sent=shown(sum(counts[s] for s in TOLD)),
                delivered=shown(counts["delivered"]),
                helped=shown(len(reacted[(row.id, "helped")])),
                not_helped=shown(len(reacted[(row.id, "not_helped")])),
                comments=shown(len(reacted[(row.id, "comment")])),
            )
        )
    return tuple(results)


def loop_results(
    session: Session, wanted: ExportFilter, minimum: int, hidden_themes: set[str]
) -> tuple[LoopResult, ...]:
    """Per theme: residents who spoke in the period, those told of a change, did it help.

    Told: an update about the theme (or one that picked their view under it) was sent or
    delivered to them. Helped: of those told who answered "did it help?", those who said
    yes to such an update. A theme whose views total is hidden hides its residents too.
    """
    speakers = _views(wanted).with_only_columns(View.resident_id).order_by(None)
    spoken = (
        _views(wanted)
        .with_only_columns(ViewTheme.theme_key, View.resident_id)
        .join(ViewTheme, ViewTheme.view_id == View.id)
        .order_by(None)
        .distinct()
    )
    if wanted.themes:
        spoken = spoken.where(ViewTheme.theme_key.in_(wanted.themes))
    spoke: dict[str, set[int]] = defaultdict(set)
    for theme_key, resident_id in session.execute(spoken):
        spoke[theme_key].add(resident_id)
    about = {
        update_id: set(_json_list(themes))
        for update_id, themes in session.execute(
            select(Update.id, Update.themes).where(Update.published_at.is_not(None))
        )
    }
    picked = set(
        session.execute(
            select(UpdateView.update_id, View.resident_id, ViewTheme.theme_key)
            .join(View, View.id == UpdateView.view_id)
            .join(ViewTheme, ViewTheme.view_id == View.id)
        ).all()
    )
    sent = session.execute(
        select(OutboxMessage.update_id, OutboxMessage.resident_id).where(
            OutboxMessage.status.in_(TOLD), OutboxMessage.resident_id.in_(speakers)
        )
    ).all()
    verdicts = session.execute(
        select(UpdateReaction.update_id, UpdateReaction.resident_id, UpdateReaction.kind).where(
            UpdateReaction.kind.in_(("helped", "not_helped")),
            UpdateReaction.resident_id.in_(speakers),
        )
    ).all()
    keys = [t.key for t in catalogue() if not wanted.themes or t.key in wanted.themes]
    results: list[LoopResult] = []
    for key in keys:
        residents = spoke.get(key, set())
        pairs = {
            (u, r)
            for u, r in sent
            if r in residents and (key in about.get(u, set()) or (u, r, key) in picked)
        }
        answered = {r for u, r, _ in verdicts if (u, r) in pairs}
        helped = {r for u, r, kind in verdicts if kind == "helped" and (u, r) in pairs}
        results.append(
            LoopResult(
                key=key,
                label=label(key),
                spoke=published(len(residents), minimum, key in hidden_themes),
                told=published(len({r for _, r in pairs}), minimum),
                answered=published(len(answered), minimum),
                helped=published(len(helped), minimum),
            )
        )
    by_key = {r.key: r for r in results}
    ranked = _by_published_size(by_key, {k: r.spoke for k, r in by_key.items()}, NO_THEME)
    return tuple(by_key[key] for key in ranked)


def gather_report(
    session: Session,
    wanted: ExportFilter,
    *,
    minimum: int,
    org_name: str,
    now: datetime | None = None,
    timezone_name: str = "UTC",
) -> Report:
    """Every number of the report, suppressed; ExportError for filters it cannot take."""
    for name in ("question", "update"):
        if wanted.described.get(name) is not None:
            raise ExportError(f"--{name} does not apply to the report")
    views, hidden = views_table(session, wanted, minimum)
    table = theme_months(views, hidden, wanted.since, wanted.until)
    hidden_themes = {t for t, m, a in hidden if m == TOTAL and a == TOTAL and t != TOTAL}
    updates = update_results(session, wanted, minimum)
    return Report(
        org_name=org_name,
        since=wanted.since,
        until=wanted.until,
        filters=dict(wanted.described),
        minimum=minimum,
        generated_at=now or datetime.now(timezone.utc),
        summary=summary(session, wanted, minimum, table.total, len(updates)),
        theme_months=table,
        areas=area_themes(views, hidden),
        scales=scale_results(session, wanted, minimum),
        updates=updates,
        loops=loop_results(session, wanted, minimum, hidden_themes),
        timezone=timezone_name,
    )


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

# Paul Tol's "muted" scheme (colour-blind safe), one per theme in catalogue order.
PALETTE = (
    "#4477AA", "#CC6677", "#117733", "#DDCC77", "#88CCEE",
    "#882255", "#44AA99", "#999933", "#AA4499", "#332288",
)  # fmt: skip
NO_THEME_COLOUR = "#BBBBBB"
DASH = "\u2013"
NO_VIEWS = '<p class="empty">No views in this period.</p>'
INK, MUTED, GRID = "#1f2a37", "#5b6776", "#e3e7ec"

CSS = """
:root { --ink: #1f2a37; --muted: #5b6776; --line: #dfe3e8; --soft: #f4f6f8;
  --brand: #1e3a5f; --accent: #2f6690; --told: #2f6690; --spoke: #c9d6e3; }
* { box-sizing: border-box; }
html { background: #e9edf1; }
body { margin: 0; color: var(--ink); font: .9375rem/1.55 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; -webkit-font-smoothing: antialiased; }
.page { max-width: 64rem; margin: 0 auto; background: #fff; box-shadow: 0 1px 3px #0002; }
header.masthead { background: var(--brand); color: #fff; padding: 2rem 2.5rem 1.75rem; }
.masthead .org { margin: 0; font-size: .8rem; letter-spacing: .12em; text-transform: uppercase;
  opacity: .85; font-weight: 600; }
.masthead h1 { margin: .3rem 0 .4rem; font-size: 2rem; line-height: 1.2; font-weight: 650; }
.masthead .period { margin: 0; font-size: 1.05rem; opacity: .95; }
.masthead .filters { margin: .5rem 0 0; font-size: .85rem; opacity: .85; }
main { padding: .5rem 2.5rem 2rem; }
section { padding: 1.75rem 0 .75rem; border-bottom: 1px solid var(--line); }
section:last-of-type { border-bottom: 0; }
h2 { margin: 0 0 .25rem; font-size: 1.3rem; line-height: 1.3; color: var(--brand);
  font-weight: 650; }
h2 .n { display: inline-block; min-width: 1.6rem; color: var(--muted); font-weight: 500; }
.lede { margin: 0 0 1rem; color: var(--muted); max-width: 46rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 1rem;
  margin: .5rem 0 .75rem; }
.tile { background: var(--soft); border-radius: 6px; padding: .9rem 1.1rem;
  border-top: 3px solid var(--accent); }
.tile .value { display: block; font-size: 1.9rem; font-weight: 650; line-height: 1.2;
  font-variant-numeric: tabular-nums; }
.tile .what { color: var(--muted); font-size: .9rem; }
.tile.period .value { font-size: 1.05rem; padding: .45rem 0 .4rem; white-space: nowrap; }
figure { margin: .25rem 0 1rem; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .25rem; }
.legend { list-style: none; margin: .5rem 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: .3rem 1.1rem; font-size: .85rem; color: var(--ink); }
.legend li { display: inline-flex; align-items: center; gap: .4rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; flex: none; }
.swatch.hidden-cells {
  background: repeating-linear-gradient(135deg, #c4cad1 0 2px, #eef0f3 2px 5px); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 1rem; font-size: .9rem; }
caption { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
tbody th { white-space: nowrap; font-weight: 600; }
th, td { padding: .45rem .6rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { font-size: .78rem; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); font-weight: 600; border-bottom: 2px solid #c9d0d8; vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafbfc; }
tfoot td, tfoot th { font-weight: 650; border-top: 2px solid #c9d0d8; border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.zero { color: #a3acb7; }
.star { color: var(--muted); }
.muted { color: var(--muted); }
.meta { display: block; color: var(--muted); font-size: .8rem; margin-top: .15rem; }
.tag { display: inline-block; background: #e8eef4; color: #2b4a6b; border-radius: 3px;
  padding: 0 .4rem; margin: .15rem .25rem 0 0; font-size: .75rem; }
.tag.coming { background: #fbf1dc; color: #7a5410; }
.chips { display: flex; flex-wrap: wrap; gap: .35rem .5rem; }
.chip { display: inline-flex; align-items: center; gap: .35rem; background: var(--soft);
  border: 1px solid var(--line); border-radius: 999px; padding: .05rem .6rem .05rem .5rem;
  font-size: .85rem; white-space: nowrap; }
.chip b { font-weight: 650; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: .5rem; background: var(--spoke); border-radius: 2px;
  vertical-align: middle; margin-right: .45rem; }
.question { font-weight: 600; }
.empty { color: var(--muted); font-style: italic; margin: .25rem 0 1rem; }
.about { font-size: .85rem; color: var(--muted); }
.about h2 { font-size: 1.05rem; }
.about dl { display: grid; grid-template-columns: 2.5rem 1fr; gap: .35rem .5rem; margin: .5rem 0; }
.about dt { font-weight: 700; color: var(--ink); text-align: center; }
.about dd { margin: 0; }
footer { padding: 1rem 2.5rem 1.5rem; color: var(--muted); font-size: .8rem;
  border-top: 1px solid var(--line); display: flex; justify-content: space-between; gap: 1rem;
  flex-wrap: wrap; }
@media (max-width: 40rem) {
  header.masthead, main, footer { padding-left: 1rem; padding-right: 1rem; }
  .masthead h1 { font-size: 1.6rem; }
}
@media print {
  @page { size: A4; margin: 12mm 12mm 14mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  html { background: #fff; font-size: 11.5px; }
  .page { box-shadow: none; max-width: none; }
  header.masthead { padding: 1.25rem 1.5rem; border-radius: 4px; }
  main, footer { padding-left: 0; padding-right: 0; }
  .scroll { overflow: visible; }
  figure, tr, .tile, section.about, footer { break-inside: avoid; }
  h2, .lede { break-after: avoid; }
}
"""


def _colours() -> dict[str, str]:
    keys = [t.key for t in catalogue()]
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    return colours | {NO_THEME: NO_THEME_COLOUR}


def _n(value: Count) -> str:
    """A published count for HTML: 1,234, a muted 0, or a muted `*`."""
    if isinstance(value, str):
        return '<span class="star">*</span>'
    return '<span class="zero">0</span>' if value == 0 else f"{value:,}"


def _plain(value: Count) -> str:
    return value if isinstance(value, str) else f"{value:,}"


def _percent(value: float | None) -> str:
    return '<span class="muted">&ndash;</span>' if value is None else f"{value:.0%}"


def _month_label(month: str, long: bool = False) -> str:
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y" if long else "%b %Y")


def _day(value: datetime) -> str:
    return f"{value.day} {value:%B %Y}"


def period_text(since: datetime | None, until: datetime | None, short: bool = False) -> str:
    """The period in words: "1 September 2026 to 30 November 2026", or "All time"."""
    last = until - timedelta(days=1) if until else None

    def day(value: datetime) -> str:
        return f"{value.day} {value:%b %Y}" if short else _day(value)

    if since and last:
        if short and since.year == last.year:
            return f"{since.day} {since:%b} {DASH} {day(last)}"
        return f"{day(since)} {DASH if short else 'to'} {day(last)}"
    if since:
        return f"From {day(since)}"
    if last:
        return f"Up to {day(last)}"
    return "All time"


def _axis(value: float) -> tuple[int, int]:
    """A round axis maximum at or above `value`, and its step (about five gridlines)."""
    step = 1
    while step * 5 < value:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return max(-(-int(value) // step), 1) * step, step


def _svg_text(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{escape(str(v))}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def month_chart(table: ThemeMonths) -> str:
    """Stacked columns: each month's published theme cells, hidden ones as one hatched part."""
    width, height, left, right, top, bottom = 880, 290, 44, 8, 22, 30
    colours = _colours()
    stacks: list[list[tuple[str, float, str]]] = []
    heights: list[float] = []
    for i, month in enumerate(table.months):
        parts: list[tuple[str, float, str]] = []
        for series in table.themes:
            n = series.months[i]
            if isinstance(n, int) and n:
                title = f"{series.label}, {_month_label(month, True)}: {n:,} views"
                parts.append((colours.get(series.key, NO_THEME_COLOUR), n, title))
        shown = sum(p[1] for p in parts)
        total = table.totals[i]
        if isinstance(total, int) and total > shown:
            title = f"Themes with small numbers, {_month_label(month, True)} (hidden)"
            parts.append(("url(#hatch)", total - shown, title))
        stacks.append(parts)
        heights.append(total if isinstance(total, int) else shown)
    peak, step = _axis(max(heights, default=0))
    plot_h = height - top - bottom
    slot = (width - left - right) / max(len(table.months), 1)
    bar_w = min(slot * 0.62, 56)
    out = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="months-title '
        'months-desc" font-family="inherit" font-size="11">',
        '<title id="months-title">Views per theme per month</title>',
        '<desc id="months-desc">A stacked column for each month, one colour per theme; the '
        "same numbers are in the table below.</desc>",
        '<defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="5" height="5" fill="#eef0f3"/>'
        '<rect width="2" height="5" fill="#c4cad1"/></pattern></defs>',
    ]
    for tick in range(0, peak + 1, step):
        y = height - bottom - plot_h * tick / peak
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID if tick else "#b8c0c9"}"/>'
        )
        out.append(_svg_text(left - 6, y + 4, f"{tick:,}", text_anchor="end", fill=MUTED))
    every = max(1, -(-len(table.months) // 12))
    for i, (month, parts) in enumerate(zip(table.months, stacks, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        y = float(height - bottom)
        for colour, n, title in parts:
            h = n / peak * plot_h
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(title)}</title></rect>'
            )
        label_y = (y if parts else height - bottom) - 5
        out.append(
            _svg_text(
                x + bar_w / 2,
                label_y,
                _plain(table.totals[i]),
                text_anchor="middle",
                fill=INK,
                font_weight="600",
            )
        )
        if i % every == 0:
            out.append(
                _svg_text(
                    x + bar_w / 2,
                    height - bottom + 17,
                    _month_label(month),
                    text_anchor="middle",
                    fill=MUTED,
                )
            )
    out.append("</svg>")
    return "".join(out)


def loop_chart(loops: Sequence[LoopResult]) -> str:
    """Horizontal bars per theme: residents who spoke (light), of them told (dark)."""
    rows = [r for r in loops if r.spoke != 0]
    if not rows:
        return ""
    width, label_w, row_h, top = 880, 190, 30, 8
    height = top + row_h * len(rows) + 6
    peak = max([r.spoke for r in rows if isinstance(r.spoke, int)] or [1])
    plot_w = width - label_w - 150
    out = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="loop-title loop-desc"'
        ' font-family="inherit" font-size="12">',
        '<title id="loop-title">Residents who spoke, and how many were told of a change</title>',
        '<desc id="loop-desc">For each theme, a light bar for the residents who spoke and a '
        "dark bar for those told of a change; the numbers are in the table below.</desc>",
    ]
    for i, row in enumerate(rows):
        y = top + i * row_h
        out.append(_svg_text(label_w - 10, y + 17, row.label, text_anchor="end", fill=INK))
        end = label_w
        if isinstance(row.spoke, int):
            w = row.spoke / peak * plot_w
            end = label_w + w
            out.append(
                f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="18" rx="2" '
                f'fill="#c9d6e3"><title>{escape(row.label)}: {row.spoke:,} residents spoke'
                "</title></rect>"
            )
            if isinstance(row.told, int) and row.told:
                tw = row.told / peak * plot_w
                out.append(
                    f'<rect x="{label_w}" y="{y + 8}" width="{tw:.1f}" height="10" rx="1" '
                    f'fill="#2f6690"><title>{escape(row.label)}: {row.told:,} told of a change'
                    "</title></rect>"
                )
        text = f"{_plain(row.spoke)} spoke \u00b7 {_plain(row.told)} told"
        out.append(_svg_text(end + 8, y + 17, text, fill=MUTED))
    out.append("</svg>")
    return "".join(out)


def scale_chart(result: ScaleResult) -> str:
    """Five small columns, answers 1 to 5; a hidden count shows `*` and no column."""
    width, height, bottom, top = 150, 58, 14, 12
    numbers = [n for n in result.distribution if isinstance(n, int)]
    peak = max([*numbers, 1])
    slot = width / 5
    words = ", ".join(f"{r}: {_plain(n)}" for r, n in zip(SCALE, result.distribution, strict=True))
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(f"Answers {words}")}" font-family="inherit" font-size="9.5">'
    ]
    for i, (rating, n) in enumerate(zip(SCALE, result.distribution, strict=True)):
        x = i * slot + slot * 0.18
        w = slot * 0.64
        base = height - bottom
        if isinstance(n, int) and n:
            h = n / peak * (base - top)
            out.append(
                f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'rx="1.5" fill="#2f6690"/>'
            )
            label_y = base - h - 2.5
        else:
            label_y = base - 2.5
        out.append(_svg_text(x + w / 2, label_y, _plain(n), text_anchor="middle", fill=INK))
        out.append(_svg_text(x + w / 2, height - 2, str(rating), text_anchor="middle", fill=MUTED))
    out.append(f'<line x1="0" x2="{width}" y1="{height - bottom}" y2="{height - bottom}" '
               'stroke="#b8c0c9"/></svg>')  # fmt: skip
    return "".join(out)


def _section(number: int, title: str, lede: str, body: str) -> str:
    return (
        f'<section aria-labelledby="s{number}"><h2 id="s{number}"><span class="n">{number}</span>'
        f'{escape(title)}</h2><p class="lede">{lede}</p>{body}</section>'
    )


def _summary_section(report: Report) -> str:
    s = report.summary
    tiles = [
        ("period", escape(period_text(report.since, report.until, short=True)), "Period covered"),
        ("", _n(s.views), "Views shared"),
        ("", _n(s.residents), "Residents who spoke"),
        ("", _n(s.updates), "\u201cYou said, we did\u201d updates published"),
    ]
    body = '<div class="tiles">' + "".join(
        f'<div class="tile {cls}"><span class="value">{value}</span>'
        f'<span class="what">{what}</span></div>'
        for cls, value, what in tiles
    ) + "</div>"  # fmt: skip
    return _section(
        1, "Summary",
        "What residents told us in this period, and how many changes we reported back.",
        body,
    )  # fmt: skip


def _months_section(report: Report) -> str:
    table = report.theme_months
    lede = (
        "How many views residents shared about each theme, month by month. A view about two "
        "themes counts under each, so the totals can be more than the number of views."
    )
    if not table.themes:
        return _section(2, "Views per theme per month", lede, NO_VIEWS)
    colours = _colours()
    legend = "".join(
        f'<li><span class="swatch" style="background:{colours.get(s.key, NO_THEME_COLOUR)}">'
        f"</span>{escape(s.label)}</li>"
        for s in table.themes
        if any(isinstance(n, int) and n for n in s.months)  # drawn in the chart
    )
    chart = month_chart(table)
    if 'url(#hatch)"' in chart:
        legend += '<li><span class="swatch hidden-cells"></span>Small numbers (hidden)</li>'
    head = "".join(f'<th scope="col" class="num">{_month_label(m)}</th>' for m in table.months)
    rows = "".join(
        f'<tr><th scope="row"><span class="swatch" style="background:'
        f'{colours.get(s.key, NO_THEME_COLOUR)}"></span> {escape(s.label)}</th>'
        + "".join(f'<td class="num">{_n(n)}</td>' for n in s.months)
        + f'<td class="num"><strong>{_n(s.total)}</strong></td></tr>'
        for s in table.themes
    )
    foot = (
        '<tr><th scope="row">All themes</th>'
        + "".join(f'<td class="num">{_n(n)}</td>' for n in table.totals)
        + f'<td class="num">{_n(table.total)}</td></tr>'
    )
    body = (
        f'<figure>{chart}<ul class="legend">{legend}</ul></figure>'
        '<div class="scroll"><table><caption>Views per theme per month</caption>'
        f'<thead><tr><th scope="col">Theme</th>{head}<th scope="col" class="num">Total</th>'
        f"</tr></thead><tbody>{rows}</tbody><tfoot>{foot}</tfoot></table></div>"
    )
    return _section(2, "Views per theme per month", lede, body)


def _areas_section(report: Report) -> str:
    lede = (
        "Where views came from, by postcode district, and the themes raised most in each. "
        "Themes with small numbers in a district are left out of its list."
    )
    if not report.areas:
        return _section(3, "Top themes by area", lede, NO_VIEWS)
    colours = _colours()
    peak = max([a.views for a in report.areas if isinstance(a.views, int)] or [1])
    rows = []
    for area in report.areas:
        chips = (
            "".join(
                f'<span class="chip"><span class="swatch" style="background:'
                f'{colours.get(key, NO_THEME_COLOUR)}"></span>{escape(_theme_label(key))} '
                f"<b>{n:,}</b></span>"
                for key, n in area.top
            )
            or '<span class="muted">Numbers too small to show by theme</span>'
        )
        bar = (
            f'<span class="bar" style="width:{max(area.views / peak * 5, 0.2):.2f}rem"></span>'
            if isinstance(area.views, int) and area.views
            else ""
        )
        rows.append(
            f'<tr><th scope="row">{escape(area.label)}</th>'
            f'<td class="num">{bar}{_n(area.views)}</td>'
            f'<td><div class="chips">{chips}</div></td></tr>'
        )
    body = (
        '<div class="scroll"><table><caption>Views by postcode district, with its top themes'
        '</caption><thead><tr><th scope="col">District</th>'
        '<th scope="col" class="num">Views</th><th scope="col">Top themes (views)</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return _section(3, "Top themes by area", lede, body)


def _scales_section(report: Report) -> str:
    lede = (
        "Answers to check-in questions asked on a scale of 1 to 5, with the average where "
        "enough residents answered for it to be shown."
    )
    if not report.scales:
        return _section(
            4, "Check-in ratings", lede,
            '<p class="empty">No rating questions were answered in this period.</p>',
        )  # fmt: skip
    rows = "".join(
        f'<tr><td class="question">{escape(s.wording)}</td>'
        f'<td class="num">{_n(s.answers)}</td>'
        + "".join(f'<td class="num">{_n(n)}</td>' for n in s.distribution)
        + '<td class="num">'
        + ('<span class="muted">&ndash;</span>' if s.mean is None else f"{s.mean:.1f}")
        + f"</td><td>{scale_chart(s)}</td></tr>"
        for s in report.scales
    )
    ratings = "".join(f'<th scope="col" class="num">{r}</th>' for r in SCALE)
    body = (
        '<div class="scroll"><table><caption>Answers to each rating question, by rating'
        '</caption><thead><tr><th scope="col">Question</th>'
        f'<th scope="col" class="num">Answers</th>{ratings}'
        '<th scope="col" class="num">Average</th><th scope="col">Spread</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )
    return _section(4, "Check-in ratings", lede, body)


def _updates_section(report: Report) -> str:
    lede = (
        "Each \u201cyou said, we did\u201d update published in this period: who it was for, "
        "how many messages went out, and what residents replied so far."
    )
    if not report.updates:
        return _section(
            5, "\u201cYou said, we did\u201d updates", lede,
            '<p class="empty">No updates were published in this period.</p>',
        )  # fmt: skip
    rows = []
    for u in report.updates:
        tags = "".join(f'<span class="tag">{escape(label(k))}</span>' for k in u.themes)
        tags += "".join(f'<span class="tag">{escape(a)}</span>' for a in u.areas)
        if u.coming:
            tags += '<span class="tag coming">Still to happen</span>'
        asked = '<td class="num"><span class="muted">n/a</span></td>'
        rows.append(
            f'<tr><td><strong>{escape(u.title)}</strong>'
            f'<span class="meta">Published {_day(u.published_at)}</span>{tags}</td>'
            f'<td class="num">{_n(u.residents)}</td><td class="num">{_n(u.sent)}</td>'
            f'<td class="num">{_n(u.delivered)}</td>'
            + (asked * 2 if u.coming else
               f'<td class="num">{_n(u.helped)}</td><td class="num">{_n(u.not_helped)}</td>')
            + f'<td class="num">{_n(u.comments)}</td></tr>'
        )  # fmt: skip
    body = (
        '<div class="scroll"><table><caption>Updates, their reach and residents\u2019 replies'
        '</caption><thead><tr><th scope="col">Update</th>'
        '<th scope="col" class="num">Residents</th><th scope="col" class="num">Sent</th>'
        '<th scope="col" class="num">Delivered</th><th scope="col" class="num">Helped</th>'
        '<th scope="col" class="num">Didn\u2019t help</th>'
        f'<th scope="col" class="num">Comments</th></tr></thead><tbody>{"".join(rows)}'
        "</tbody></table></div>"
        '<p class="about">Residents: those the update was for. Sent: messages that left us. '
        "Delivered: confirmed by the phone network (text messages only). Helped, didn\u2019t "
        "help and comments count residents who replied.</p>"
    )
    return _section(5, "\u201cYou said, we did\u201d updates", lede, body)


def _loops_section(report: Report) -> str:
    lede = (
        "For each theme: the residents who raised it in this period, how many of them have "
        "been told of a change about it, and whether those who answered said it helped."
    )
    if not any(r.spoke != 0 for r in report.loops):
        return _section(6, "Closing the loop", lede, NO_VIEWS)
    rows = "".join(
        f'<tr><th scope="row">{escape(r.label)}</th><td class="num">{_n(r.spoke)}</td>'
        f'<td class="num">{_n(r.told)}</td><td class="num">{_percent(r.told_share)}</td>'
        f'<td class="num">{_n(r.answered)}</td><td class="num">{_percent(r.helped_share)}</td>'
        "</tr>"
        for r in report.loops
    )
    legend = (
        '<ul class="legend"><li><span class="swatch" style="background:#c9d6e3"></span>'
        'Residents who spoke</li><li><span class="swatch" style="background:#2f6690"></span>'
        "Of them, told of a change</li></ul>"
    )
    body = (
        f"<figure>{loop_chart(report.loops)}{legend}</figure>"
        '<div class="scroll"><table><caption>Residents who spoke, were told of a change, '
        "and said it helped"
        '</caption><thead><tr><th scope="col">Theme</th>'
        '<th scope="col" class="num">Spoke</th><th scope="col" class="num">Told</th>'
        '<th scope="col" class="num">Share told</th><th scope="col" class="num">Answered</th>'
        f'<th scope="col" class="num">Said it helped</th></tr></thead><tbody>{rows}</tbody>'
        "</table></div>"
        '<p class="about">Spoke: residents with a view about the theme in this period. Told: '
        "of them, those an update about the theme was sent to (at any time). Answered: of "
        "those told, residents who replied whether it helped; said it helped is their "
        "share.</p>"
    )
    return _section(6, "Closing the loop", lede, body)


def _filters_text(filters: Mapping[str, Any]) -> str:
    parts = []
    if filters.get("themes"):
        parts.append(", ".join(label(k) for k in filters["themes"]))
    if filters.get("areas"):
        parts.append(", ".join(filters["areas"]))
    if filters.get("channel"):
        parts.append({"sms": "text messages", "telegram": "Telegram"}[filters["channel"]])
    return f"Only: {'; '.join(parts)}" if parts else ""


def render_report(report: Report) -> str:
    """The whole page, from the report's published numbers only (every text escaped)."""
    period = period_text(report.since, report.until)
    zone = ZoneInfo(report.timezone)
    generated = report.generated_at.astimezone(zone)
    stamp = f"{_day(generated)} at {generated:%H:%M} ({report.timezone})"
    filters = _filters_text(report.filters)
    lo, hi = 1, report.minimum - 1
    about = (
        '<section class="about" aria-labelledby="about"><h2 id="about">About these numbers'
        "</h2><dl>"
        f"<dt>*</dt><dd>A number from {lo} to {hi}, too small to publish without risk of "
        "identifying someone, or a number hidden so that a total cannot give a small one "
        "away.</dd>"
        "<dt>&ndash;</dt><dd>A share or average left out because a number it rests on is "
        "hidden.</dd></dl>"
        "<p>Views are what residents told us by text message or Telegram, each stored under "
        "one or more themes; answers to check-in questions and comments on updates are views "
        "too, but ratings (1 to 5) are counted in section 4 only. Months run in UTC. No "
        "resident\u2019s words, phone number or name appear in this report.</p></section>"
    )
    body = "".join(
        (
            _summary_section(report),
            _months_section(report),
            _areas_section(report),
            _scales_section(report),
            _updates_section(report),
            _loops_section(report),
            about,
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.org_name)}: engagement report, {escape(period)}</title>"
        f'<style>{CSS}</style></head><body><div class="page">'
        f'<header class="masthead"><p class="org">{escape(report.org_name)}</p>'
        "<h1>Engagement report</h1>"
        f'<p class="period">{escape(period)}</p>'
        + (f'<p class="filters">{escape(filters)}</p>' if filters else "")
        + f"</header><main>{body}</main>"
        f"<footer><span>{escape(report.org_name)} \u00b7 engagement report</span>"
        f"<span>Generated {escape(stamp)}</span></footer></div></body></html>\n"
    )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` all or nothing (beside it, then renamed); ExportError if not."""
    directory = path.resolve().parent
    if not directory.is_dir() or not os.access(directory, os.W_OK) or path.is_dir():
        raise ExportError(f"cannot write to {path}: no such folder, or not writable")
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)  # made to be shared: only published numbers in it
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ExportError(f"cannot write to {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report(
    session: Session,
    wanted: ExportFilter,
    path: Path,
    *,
    actor: str,
    minimum: int,
    org_name: str,
    timezone_name: str = "UTC",
    now: datetime | None = None,
) -> Report:
    """Gather, render and write the report to `path` (all or nothing), then audit it."""
    report = gather_report(
        session, wanted, minimum=minimum, org_name=org_name, now=now, timezone_name=timezone_name
    )
    write_atomically(path, render_report(report))
    audit.record(
        session,
        actor=actor,
        action="report",
        detail={
            "filters": report.filters,
            "min_count": minimum,
            "views": report.summary.views,
            "themes": report.summary.themes,
            "updates": report.summary.updates,
        },
    )
    return report


def describe(report: Report, path: Path) -> str:
    """The one line the CLI prints: "Wrote report.html (views 1,234, 6 themes, 3 updates)."."""
    s = report.summary
    themes = f"{s.themes} theme{'' if s.themes == 1 else 's'}"
    updates = f"{s.updates} update{'' if s.updates == 1 else 's'}"
    return f"Wrote {path} (views {_plain(s.views)}, {themes}, {updates})."
