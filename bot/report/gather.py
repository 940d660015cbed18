"""Every number of the report, read from the database (dialect-neutral queries; months
bucketed in Python) and suppressed: the summary, the tables of views, the 1-5 questions,
the updates and closing the loop. No resident's words, number, chat id or name is read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from bot.disclosure import TOTAL, Key, primary, suppressed_cells
from bot.exports.counts import NO_THEME
from bot.exports.filters import ExportError, ExportFilter
from bot.exports.views import views_query
from bot.models import (
    TOLD,
    CheckinQuestion,
    OutboxMessage,
    OutboxStatus,
    QuestionKind,
    ReactionKind,
    Stage,
    Update,
    UpdateReaction,
    UpdateView,
    View,
    ViewTheme,
)
from bot.report.results import (
    HIDDEN,
    SCALE,
    Count,
    LoopResult,
    Report,
    ScaleResult,
    Summary,
    UpdateResult,
    published,
)
from bot.report.tables import (
    area_themes,
    by_published_size,
    counted_views,
    theme_months,
    views_table,
)
from bot.targets import load_keys
from bot.themes import catalogue, label


def summary(
    session: Session, wanted: ExportFilter, minimum: int, grand_total: Count, updates: int
) -> Summary:
    """Views and residents in the period (hidden with the table's total), updates, themes."""
    rows = counted_views(wanted).with_only_columns(View.id, View.resident_id).order_by(None)
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


def scale_results(session: Session, wanted: ExportFilter, minimum: int) -> tuple[ScaleResult, ...]:
    """The 1-5 questions answered in the period, each with its distribution, suppressed.

    Ratings carry no theme of their own: `--theme` keeps the questions aimed at a theme.
    """
    questions = {
        qid: wording
        for qid, wording, themes in session.execute(
            select(CheckinQuestion.id, CheckinQuestion.wording, CheckinQuestion.themes)
            .where(CheckinQuestion.kind == QuestionKind.SCALE)
            .order_by(CheckinQuestion.id)
        )
        if not wanted.themes or set(load_keys(themes)) & set(wanted.themes)
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


def _wanted_update(themes: Sequence[str], areas: Sequence[str], wanted: ExportFilter) -> bool:
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
        if _wanted_update(load_keys(row.themes), load_keys(row.areas), wanted)
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
                coming=row.stage == Stage.COMING,
                themes=load_keys(row.themes),
                areas=load_keys(row.areas),
                residents=shown(sum(counts.values())),
                sent=shown(sum(counts[s] for s in TOLD)),
                delivered=shown(counts[OutboxStatus.DELIVERED]),
                helped=shown(len(reacted[(row.id, ReactionKind.HELPED)])),
                not_helped=shown(len(reacted[(row.id, ReactionKind.NOT_HELPED)])),
                comments=shown(len(reacted[(row.id, ReactionKind.COMMENT)])),
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
    speakers = counted_views(wanted).with_only_columns(View.resident_id).order_by(None)
    spoken = (
        counted_views(wanted)
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
        update_id: set(load_keys(themes))
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
            UpdateReaction.kind.in_((ReactionKind.HELPED, ReactionKind.NOT_HELPED)),
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
        helped = {r for u, r, kind in verdicts if kind == ReactionKind.HELPED and (u, r) in pairs}
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
    ranked = by_published_size(by_key, {k: r.spoke for k, r in by_key.items()}, NO_THEME)
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
