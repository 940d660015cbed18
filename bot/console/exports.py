"""Exports for analysts: pick a kind, a format and filters; the file streams to the browser.

The same `bot.exports.export` the CLI runs: residents are keyed pseudonyms, free text is
redacted, counts are suppressed below EXPORT_MIN_COUNT (always: nothing here turns that
off), and every export is audited with who, the filters and the row count. The file is
written to a private temporary folder, opened, and unlinked at once, so nothing is left on
disk whatever happens to the download; the response then reads it 64 KiB at a time.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, render_template, request
from flask.typing import ResponseReturnValue

from bot.console import database, settings, tracker_database
from bot.console.forms import BadInput, day, midnight, words
from bot.console.security import login_required
from bot.exports import (
    DIMENSIONS,
    FORMATS,
    KINDS,
    MEDIA_TYPES,
    ExportError,
    ExportFilter,
    ExportRequest,
    export,
    parse_by,
)
from bot.models import Role
from bot.pseudonyms import NoPseudonymKey

blueprint = Blueprint("exports", __name__, url_prefix="/exports")

CHUNK = 64 * 1024
DEFAULT_BY = ("theme", "month")
FORMAT_NAMES = {"csv": "CSV", "xlsx": "Excel (XLSX)", "jsonl": "JSON Lines", "parquet": "Parquet"}
KIND_HELP = {
    "views": "one row per view: when, themes, area, channel and the redacted words",
    "conversations": "the conversations turn by turn, resident and bot, from consent on",
    "reactions": "residents' reactions to published updates: helped, did not, comments",
    "counts": "how many views and residents per theme, month, area or channel",
}
# The library speaks in CLI options; the page in the names of its fields.
FIELD_NAMES = {
    "from": "From",
    "to": "To",
    "theme": "Themes",
    "area": "Areas",
    "channel": "Channel",
    "question": "Question",
    "update": "Update",
    "by": "Count by",
    "format": "Format",
}


def _number(value: str | None, what: str) -> int | None:
    """A whole number from a form field, or None when empty."""
    value = (value or "").strip().lstrip("#")
    if not value:
        return None
    if not (value.isdigit() and len(value) < 10):
        raise BadInput(f"{what} must be a number, like 3")
    return int(value)


def _posted_form() -> dict:
    """The form as posted, for running it and for showing it again."""
    form: dict[str, Any] = {
        name: request.form.get(name, "").strip()[:200]
        for name in ("kind", "format", "since", "until", "areas", "channel", "question", "update")
    }
    form["themes"] = request.form.getlist("theme")
    form["by"] = request.form.getlist("by")
    return form


def export_request(form: dict) -> ExportRequest:
    """The export the form asks for; BadInput or ExportError with a short reason."""
    kind, fmt = form.get("kind", ""), form.get("format", "")
    if kind not in KINDS:
        raise BadInput("choose what to export")
    if fmt not in FORMATS:
        raise BadInput("choose a format")
    wanted = ExportFilter.checked(
        since=midnight(day(form.get("since"), "From")),
        until=midnight(day(form.get("until"), "To"), days=1),  # the last day is included
        themes=form.get("themes", []),
        areas=words(form.get("areas")),
        channel=form.get("channel") or None,
        question_id=_number(form.get("question"), "Question"),
        update_id=_number(form.get("update"), "Update"),
    )
    chosen = form.get("by") or []
    by = parse_by(",".join(chosen)) if kind == "counts" and chosen else DEFAULT_BY
    return ExportRequest(kind, fmt, wanted, by)


def _reason(exc: Exception) -> str:
    """One line for the page: the library's reason, with the form's names for fields."""
    text = re.sub(r"--(\w+)", lambda m: FIELD_NAMES.get(m.group(1), m.group(1)), str(exc))
    return f"Not exported: {text.rstrip('.')}."


def _page(form: dict, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "exports.html",
        form=form,
        error=error,
        kinds=[(k, KIND_HELP.get(k, KINDS[k].help), KINDS[k].formats) for k in KINDS],
        formats=FORMAT_NAMES,
        dimensions=DIMENSIONS,
        minimum=settings().export_min_count,
    )
    return page, status


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The file, CHUNK bytes at a time, closed at the end (or when the client goes)."""
    try:
        while block := handle.read(CHUNK):
            yield block
    finally:
        handle.close()


def _written(wanted: ExportRequest) -> IO[bytes]:
    """Run the export (audited) into a private temporary folder; the file, open to read.

    The file is unlinked as soon as it is open, so nothing stays on disk once the
    response closes it, whether the download finished, failed or was never read.
    """
    folder = Path(tempfile.mkdtemp(prefix="engage-export-"))  # mode 0700
    path = folder / f"export.{wanted.fmt}"
    try:
        with database().transaction() as s:
            export(
                s,
                wanted,
                path,
                key=settings().export_pseudonym_key,
                actor=g.user.email,
                tracker=tracker_database() if wanted.kind == "conversations" else None,
                minimum=settings().export_min_count,  # never from the form
                remote_addr=request.remote_addr,
            )
        return path.open("rb")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _filename(kind: str, fmt: str) -> str:
    today = datetime.now(ZoneInfo(settings().timezone)).strftime("%Y%m%d")
    return f"engage-{kind}-{today}.{fmt}"


@blueprint.get("")
@login_required(Role.ANALYST)
def index() -> ResponseReturnValue:
    """The export form."""
    return _page({"kind": "views", "format": "csv", "by": list(DEFAULT_BY)})


@blueprint.post("")
@login_required(Role.ANALYST)
def download() -> ResponseReturnValue:
    """Run the export and stream the file; the form again, with the reason, if it cannot."""
    form = _posted_form()
    try:
        wanted = export_request(form)
        handle = _written(wanted)
    except (BadInput, ExportError, NoPseudonymKey) as exc:
        return _page(form, _reason(exc), 400)
    response = Response(
        _chunks(handle),
        content_type=MEDIA_TYPES[wanted.fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(wanted.kind, wanted.fmt)}"',
            "Content-Length": str(os.fstat(handle.fileno()).st_size),
        },
        direct_passthrough=True,
    )
    response.call_on_close(handle.close)  # also when the generator never started
    return response
