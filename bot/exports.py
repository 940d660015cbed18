"""Exports for analysts: residents' views, pseudonymised and redacted, streamed to a file.

Every row-level export goes through here: the resident is a keyed pseudonym (never a
number, chat id or conversation id) and free text passes `bot.redaction.redact`. Rows are
read in batches and written as they come, so memory does not grow with the row count;
the file appears only when it is complete (written beside it, then renamed). CSV is
RFC 4180 in UTF-8 with a byte-order mark, for Excel, and a cell that Excel would take
for a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import UpdateReaction, View, ViewTheme
from bot.pseudonyms import pseudonym
from bot.redaction import redact
from bot.services import audit
from bot.services.targeting import checked_targets
from bot.services.views import with_theme
from bot.themes import label

FORMATS = ("csv", "jsonl")
BATCH = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
VIEW_COLUMNS = (
    "resident",
    "theme_key",
    "theme_label",
    "themes",
    "confidence",
    "theme_set_by",
    "area",
    "channel",
    "question_id",
    "rating",
    "update_id",
    "created_at",
    "text",
)


class ExportError(ValueError):
    """An export that cannot run as asked: the message says why, in one line."""


@dataclass(frozen=True)
class ExportFilter:
    """Which rows: every field empty means everything."""

    since: datetime | None = None
    until: datetime | None = None
    themes: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    channel: str | None = None
    question_id: int | None = None
    update_id: int | None = None
    described: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def checked(
        cls,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        themes: Iterable[str] = (),
        areas: Iterable[str] = (),
        channel: str | None = None,
        question_id: int | None = None,
        update_id: int | None = None,
    ) -> ExportFilter:
        """A filter with its themes, districts, channel and dates checked (ExportError)."""
        keys, districts = checked_targets(list(themes), list(areas), ExportError)
        if since and until and until <= since:
            raise ExportError("the dates are the wrong way round: --to is before --from")
        if channel not in (None, "sms", "telegram"):
            raise ExportError("--channel must be sms or telegram")
        described = {
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
            "themes": keys,
            "areas": districts,
            "channel": channel,
            "question": question_id,
            "update": update_id,
        }
        return cls(
            since, until, tuple(keys), tuple(districts), channel, question_id, update_id,
            {k: v for k, v in described.items() if v},
        )  # fmt: skip


def _views(session: Session, wanted: ExportFilter):  # type: ignore[no-untyped-def]
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
    result = session.execute(_views(session, wanted).execution_options(yield_per=BATCH))
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
                "created_at": view.created_at.isoformat(),
                "text": redact(view.text),
            }


def _safe_cell(value: Any) -> Any:
    """A cell Excel will not run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def write_csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], out: IO[str]) -> int:
    """RFC 4180 CSV with a header; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_safe_cell(row[c]) for c in columns])
        count += 1
    return count


def write_jsonl(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], out: IO[str]) -> int:
    """One JSON object per line, typed (numbers stay numbers); returns the number of rows."""
    count = 0
    for row in rows:
        out.write(json.dumps({c: row[c] for c in columns}, ensure_ascii=False) + "\n")
        count += 1
    return count


def format_of(path: Path, given: str | None) -> str:
    """The format asked for, or the file's extension; ExportError if neither is known."""
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ExportError(
            f"unknown format {fmt or '(none)'!r}: use --format {' or '.join(FORMATS)}"
        )
    return fmt


def export_to(
    path: Path, fmt: str, rows: Iterable[dict[str, Any]], columns: tuple[str, ...]
) -> int:
    """Write the rows to `path` in `fmt`, all or nothing; returns the number of rows."""
    directory = path.resolve().parent
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise ExportError(f"cannot write to {path}: no such folder, or not writable")
    handle, temporary = tempfile.mkstemp(prefix=".export-", dir=directory)
    try:
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        with os.fdopen(handle, "w", encoding=encoding, newline="") as out:
            writer = write_csv if fmt == "csv" else write_jsonl
            count = writer(rows, columns, out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def export_views(
    session: Session, path: Path, fmt: str, wanted: ExportFilter, key: str, actor: str
) -> int:
    """Export views to `path` (audited with who, the filters and the row count)."""
    count = export_to(path, fmt, view_rows(session, wanted, key), VIEW_COLUMNS)
    audit.record(
        session,
        actor=actor,
        action="export.views",
        detail={"format": fmt, "filters": wanted.described, "rows": count},
    )
    return count
