"""One row per view (check-in answers and comments on updates included)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import String, and_, case, null, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.exports.filters import ExportFilter
from bot.exports.formats import csv_cell, csv_text
from bot.models import UpdateReaction, View, ViewTheme
from bot.pseudonyms import pseudonym
from bot.redaction import REDACTION_VERSION, redact
from bot.services.curation import visible
from bot.services.views import with_theme
from bot.themes import catalogue, label

BATCH = 1000
PSEUDONYMS_KEPT = 100_000  # residents whose pseudonym is remembered during one export
CELLS_KEPT = 10_000  # CSV cells of each other kind remembered (themes, areas: a few hundred)
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


def views_query(wanted: ExportFilter) -> Select:
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


def _views(
    session: Session, wanted: ExportFilter, stored_times: bool = False
) -> Iterator[tuple[Any, str]]:
    """Each view `wanted` picks: its row (the columns below, Core) and its themes joined by
    ";" in their order, BATCH rows read at a time. The text is in the row once:
    `text_redacted` when it was redacted with today's REDACTION_VERSION, otherwise `text`,
    still to be redacted. A view that comments on two updates comes twice, as before.

    `stored_times`: on SQLite, `created_at` as the database stores it (text, see
    `_time_cell`), not a datetime.
    """
    session.flush()  # Core below: nothing the session holds is left unwritten
    connection = session.connection()
    stored = and_(View.redaction_version == REDACTION_VERSION, View.text_redacted.is_not(None))
    created_at: Any = View.created_at
    if stored_times and connection.dialect.name == "sqlite":
        created_at = type_coerce(View.created_at, String)
    # One row per theme of each view, in no order within the view (ordering by theme rank
    # too makes SQLite sort every row first): the rows of a view are put in order below.
    query = (
        views_query(wanted)
        .outerjoin(ViewTheme, ViewTheme.view_id == View.id)
        .with_only_columns(
            View.id, UpdateReaction.id, View.resident_id, View.theme_key, View.confidence,
            View.theme_source, View.area, View.channel, View.question_id, View.rating,
            UpdateReaction.update_id, created_at,
            case((stored, View.text_redacted)),  # NULL unless redacted under today's rules
            case((stored, null()), else_=View.text),  # then the text, NULL otherwise
            ViewTheme.theme_key, ViewTheme.rank,
        )
    )  # fmt: skip
    rows = connection.execute(query.execution_options(yield_per=BATCH))
    last: Any = None  # the first row of the view being read
    more: list[Any] | None = None  # all its rows, once there is more than one
    for batch in rows.partitions(BATCH):
        for row in batch:
            if last is not None:
                if row[0] == last[0]:  # the same view: another theme, or another update
                    if more is None:
                        more = [last]
                    more.append(row)
                    continue
                if more is None:
                    yield last, last[14] or ""
                else:
                    yield from _in_order(more)
                    more = None
            last = row
    if last is not None:
        yield from ((last, last[14] or ""),) if more is None else _in_order(more)


def _in_order(rows: list[Any]) -> Iterator[tuple[Any, str]]:
    """The rows of one view: once per update it comments on (by reaction), its themes in
    their order."""
    for reaction_id in sorted({row[1] for row in rows}, key=lambda i: (i is not None, i)):
        mine = [row for row in rows if row[1] == reaction_id]
        ranked = sorted((row[15], row[14]) for row in mine if row[14] is not None)
        yield mine[0], ";".join(key for _, key in ranked)


class _Pseudonyms(dict[int, str]):
    """Each resident's pseudonym, made once (up to PSEUDONYMS_KEPT residents at a time)."""

    def __init__(self, key: str, cell: Callable[[str], str] = str) -> None:
        super().__init__()
        self.key, self.cell = key, cell
        pseudonym(0, key)  # refuses at once, before anything is read, without a key

    def __missing__(self, resident_id: int) -> str:
        if len(self) >= PSEUDONYMS_KEPT:
            self.clear()
        made = self[resident_id] = self.cell(pseudonym(resident_id, self.key))
        return made


def view_rows(session: Session, wanted: ExportFilter, key: str) -> Iterator[dict[str, Any]]:
    """One row per view (VIEW_COLUMNS), pseudonymised and redacted, read BATCH at a time."""
    pseudonyms = _Pseudonyms(key)
    labels, no_theme = {theme.key: theme.label for theme in catalogue()}, label(None)
    for row, themes in _views(session, wanted):
        (
            _, _, resident_id, theme_key, confidence, theme_source, area, channel,
            question_id, rating, update_id, created_at, redacted, text, _, _,
        ) = row  # fmt: skip
        yield {
            "resident": pseudonyms[resident_id],
            "theme_key": theme_key or "",
            "theme_label": labels.get(theme_key, no_theme),
            "themes": themes,
            "confidence": confidence,
            "theme_set_by": theme_source,
            "area": area or "",
            "channel": channel,
            "question_id": question_id,
            "rating": rating,
            "update_id": update_id,
            "created_at": created_at,
            "text": redact(text) if redacted is None else redacted,
        }


def view_csv_lines(session: Session, wanted: ExportFilter, key: str) -> Iterator[str]:
    """The CSV lines `write_csv` would write from `view_rows`, byte for byte, made faster
    (measured in docs/BENCHMARKS.md): the cells that repeat from view to view (pseudonyms,
    themes and labels, theme source, area and channel) made once each, times from SQLite's
    own text, and a line per view made in one go."""
    pseudonyms = _Pseudonyms(key, csv_cell)
    labels, no_theme = {theme.key: theme.label for theme in catalogue()}, label(None)
    # Cells made once each, by what they are made of: theme and label, themes, and the
    # theme source, area and channel together.
    theme_cells: dict[str | None, str] = {}
    themes_cells: dict[str, str] = {}
    how_cells: dict[tuple[Any, ...], str] = {}
    # A time SQLite stored in another form than its own becomes a datetime as it would.
    dialect = session.connection().dialect
    to_datetime = View.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
    for row, themes in _views(session, wanted, stored_times=True):
        (
            _, _, resident_id, theme_key, confidence, theme_source, area, channel,
            question_id, rating, update_id, created_at, redacted, text, _, _,
        ) = row  # fmt: skip
        theme = theme_cells.get(theme_key)
        if theme is None:
            if len(theme_cells) >= CELLS_KEPT:
                theme_cells.clear()
            theme = theme_cells[theme_key] = (
                f"{csv_cell(theme_key or '')},{csv_cell(labels.get(theme_key, no_theme))}"
            )
        themes_cell = themes_cells.get(themes)
        if themes_cell is None:
            if len(themes_cells) >= CELLS_KEPT:
                themes_cells.clear()
            themes_cell = themes_cells[themes] = csv_cell(themes)
        how = (theme_source, area, channel)
        how_cell = how_cells.get(how)
        if how_cell is None:
            if len(how_cells) >= CELLS_KEPT:
                how_cells.clear()
            how_cell = how_cells[how] = (
                f"{csv_cell(theme_source)},{csv_cell(area or '')},{csv_cell(channel)}"
            )
        yield (
            f"{pseudonyms[resident_id]},{theme},{themes_cell},"
            f"{'' if confidence is None else confidence},{how_cell},"
            f"{'' if question_id is None else question_id},{'' if rating is None else rating},"
            f"{'' if update_id is None else update_id},{_time_cell(created_at, to_datetime)},"
            f"{csv_text(redact(text) if redacted is None else redacted)}\r\n"
        )


def _time_cell(value: Any, to_datetime: Callable[[Any], Any] | None) -> str:
    """A time as `csv_cell` writes it; from SQLite's text ("2026-11-02 10:00:00.000000",
    always UTC: `UTCDateTime`) without making a datetime, the same ISO 8601."""
    if value.__class__ is str:
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            if value.endswith(".000000"):  # as `isoformat`, no fraction of a second then
                return f"{value[:10]}T{value[11:19]}+00:00"
            return f"{value[:10]}T{value[11:]}+00:00"
        value = to_datetime(value) if to_datetime is not None else value
    return csv_cell(value)
