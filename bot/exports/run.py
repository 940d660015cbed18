"""One entry point for every export, used by the CLI and the console alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.db import Database
from bot.exports.conversations import CONVERSATION_COLUMNS, conversation_rows
from bot.exports.counts import count_columns, count_rows
from bot.exports.filters import ExportError, ExportFilter
from bot.exports.formats import FORMATS, export_to
from bot.exports.reactions import REACTION_COLUMNS, reaction_rows
from bot.exports.views import VIEW_COLUMNS, view_csv_lines, view_rows
from bot.services import audit

Rows = Iterator[Any]  # dicts, or for views as CSV the lines already made


@dataclass(frozen=True)
class Kind:
    """One kind of export: what it is called, which formats it comes in, which of the
    filters --question and --update do not apply to it."""

    name: str
    formats: tuple[str, ...]
    help: str
    refuses: tuple[str, ...] = ()


KINDS = {
    kind.name: kind
    for kind in (
        Kind("views", FORMATS, "one row per view, with its themes"),
        Kind(
            "conversations",
            ("jsonl", "parquet"),
            "the conversations, turn by turn",
            refuses=("question", "update"),
        ),
        Kind("reactions", FORMATS, "residents' reactions to each published update", ("question",)),
        Kind("counts", ("csv", "xlsx", "jsonl"), "views and residents per cell, suppressed"),
    )
}


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the kind, the format, which rows, and for counts the dimensions."""

    kind: str
    fmt: str
    wanted: ExportFilter
    by: tuple[str, ...] = ("theme", "month")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExportError(f"unknown export {self.kind!r}: one of {', '.join(KINDS)}")
        if self.fmt not in KINDS[self.kind].formats:
            allowed = " or ".join(KINDS[self.kind].formats)
            raise ExportError(f"{self.kind} come as {allowed}, not {self.fmt}")
        self.wanted.refuse(*KINDS[self.kind].refuses, kind=self.kind)


def export(
    session: Session,
    request: ExportRequest,
    path: Path,
    *,
    key: str,
    actor: str,
    tracker: Database | None = None,
    minimum: int = 8,
    progress: Callable[[Rows], Iterable[Any]] = lambda rows: rows,
    remote_addr: str | None = None,
) -> int:
    """Write one export to `path`, all or nothing, and audit it; returns the row count."""
    wanted = request.wanted
    wanted.check_exist(session)
    rows: Rows
    lines = False  # rows are dicts; CSV lines already made for views as CSV
    with ExitStack() as stack:
        if request.kind == "views":
            # CSV, the analysts' usual format, made line by line: the same file, faster.
            lines = request.fmt == "csv"
            rows = (view_csv_lines if lines else view_rows)(session, wanted, key)
            columns = VIEW_COLUMNS
        elif request.kind == "reactions":
            rows, columns = reaction_rows(session, wanted, key), REACTION_COLUMNS
        elif request.kind == "counts":
            rows = count_rows(session, wanted, request.by, minimum)
            columns = count_columns(request.by)
        else:
            if tracker is None:
                raise ExportError("the conversations export needs Rasa's tracker store")
            connection = stack.enter_context(tracker.engine.connect())
            rows, columns = (
                conversation_rows(session, connection, wanted, key),
                CONVERSATION_COLUMNS,
            )
        count = export_to(path, request.fmt, progress(rows), columns, lines=lines)
    detail: dict[str, Any] = {"format": request.fmt, "filters": wanted.described, "rows": count}
    if request.kind == "counts":
        detail |= {"by": list(request.by), "min_count": minimum}
    audit.record(
        session,
        actor=actor,
        action=f"export.{request.kind}",
        detail=detail,
        remote_addr=remote_addr,
    )
    return count


def export_views(
    session: Session, path: Path, fmt: str, wanted: ExportFilter, key: str, actor: str
) -> int:
    """Export views to `path` (audited with who, the filters and the row count)."""
    return export(session, ExportRequest("views", fmt, wanted), path, key=key, actor=actor)
