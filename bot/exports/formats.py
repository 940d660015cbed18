"""File formats for exports: CSV for Excel, XLSX, JSON Lines and typed Parquet.

Rows are dicts; `columns` maps each column to its type ("text", "int", "float", "bool",
"time"). Every writer takes rows as they come, so memory does not grow with the row count,
and `export_to` makes the file appear only when it is complete (written beside it, then
renamed). A text cell that a spreadsheet would run as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from bot.exports.filters import ExportError

FORMATS = ("csv", "xlsx", "jsonl", "parquet")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PARQUET_BATCH = 10_000
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
Columns = Mapping[str, str]


def safe_cell(value: Any) -> Any:
    """A cell no spreadsheet will run as a formula; times as ISO 8601, None as empty."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def write_csv(rows: Iterable[dict[str, Any]], columns: Columns, out: IO[bytes]) -> int:
    """RFC 4180 CSV, UTF-8 with a byte-order mark, CRLF; returns the number of rows."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(list(columns))
    # Only text and times need converting: csv writes numbers as they are, None as "".
    cells = [(c, safe_cell if kind in ("text", "time") else None) for c, kind in columns.items()]
    count = 0
    for row in rows:
        writer.writerow([row[c] if convert is None else convert(row[c]) for c, convert in cells])
        count += 1
    text.detach()
    return count


def write_jsonl(rows: Iterable[dict[str, Any]], columns: Columns, out: IO[bytes]) -> int:
    """One JSON object per line, typed (numbers stay numbers); returns the number of rows."""
    count = 0
    for row in rows:
        record = {
            c: row[c].isoformat() if isinstance(row[c], datetime) else row[c] for c in columns
        }
        out.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
        count += 1
    return count


def write_xlsx(rows: Iterable[dict[str, Any]], columns: Columns, out: IO[bytes]) -> int:
    """One worksheet, written as it comes (openpyxl's write-only mode); returns the row count."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def cell(value: Any) -> Any:
        value = safe_cell(value)
        # XLSX cannot hold control characters: each becomes U+FFFD, visibly.
        return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value

    book = Workbook(write_only=True)
    sheet = book.create_sheet("export")
    sheet.append(list(columns))
    count = 0
    try:
        for row in rows:
            sheet.append([cell(row[c]) for c in columns])
            count += 1
    except BaseException:
        # openpyxl spools the sheet to a temporary file of its own until saved: remove it.
        sheet.close()
        sheet._writer.cleanup()
        raise
    book.save(out)
    return count


def _arrow_schema(columns: Columns):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    types = {
        "text": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([(name, types[kind]) for name, kind in columns.items()])


def write_parquet(rows: Iterable[dict[str, Any]], columns: Columns, out: IO[bytes]) -> int:
    """Typed Parquet, one row group per PARQUET_BATCH rows; returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(columns)
    count = 0
    with pq.ParquetWriter(out, schema) as writer:
        iterator: Iterator[dict[str, Any]] = iter(rows)
        while batch := list(islice(iterator, PARQUET_BATCH)):
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            count += len(batch)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "jsonl": write_jsonl, "parquet": write_parquet}


def format_of(path: Path, given: str | None, allowed: tuple[str, ...] = FORMATS) -> str:
    """The format asked for, or the file's extension; ExportError if neither is allowed."""
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt not in allowed:
        raise ExportError(
            f"unknown format {fmt or '(none)'!r}: use --format {' or '.join(allowed)}"
        )
    return fmt


def export_to(path: Path, fmt: str, rows: Iterable[dict[str, Any]], columns: Columns) -> int:
    """Write the rows to `path` in `fmt`, all or nothing; returns the number of rows."""
    directory = path.resolve().parent
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise ExportError(f"cannot write to {path}: no such folder, or not writable")
    if path.is_dir():
        raise ExportError(f"cannot write to {path}: it is a folder, give a file name")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".export-", dir=directory)
    except OSError as exc:
        raise ExportError(f"cannot write to {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            count = WRITERS[fmt](rows, columns, out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count
