"""`engage report`'s entry point: gather, render, write the file all or nothing, audit it;
and the one line the CLI prints."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.exports.filters import ExportError, ExportFilter
from bot.report.formatting import count_text
from bot.report.gather import gather_report
from bot.report.page import render_report
from bot.report.results import Report
from bot.services import audit


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
    return f"Wrote {path} (views {count_text(s.views)}, {themes}, {updates})."
