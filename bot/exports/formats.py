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
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bot.exports.filters import ExportError

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = ("csv", "xlsx", "jsonl", "parquet")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PARQUET_BATCH = 10_000
CSV_LINES_BATCH = 1000
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


def csv_cell(value: Any) -> str:
    """One cell as `write_csv` writes it (the csv module's minimal quoting after
    `safe_cell`), for lines made without the csv module (`write_csv_lines`)."""
    if isinstance(value, str):
        return csv_text(value)
    value = safe_cell(value)  # a time as ISO 8601, None as ""
    return _quoted(value) if isinstance(value, str) else str(value)  # numbers as csv does


def csv_text(value: str) -> str:
    """`csv_cell` of a text: an apostrophe before a formula, then quoted if it must be."""
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return _quoted(value)


def _quoted(value: str) -> str:
    """In quotes, any quote in it doubled, when it holds a comma, a quote or a line break."""
    if "\x00" in value:  # left to the csv module itself (Python 3.10's refuses it)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow([value, ""])
        return buffer.getvalue()[: -len(",\r\n")]
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def write_csv(rows: Iterable[dict[str, Any]], columns: Columns, out: IO[bytes]) -> int:
    """RFC 4180 CSV, UTF-8 with a byte-order mark, CRLF; returns the number of rows."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(list(columns))
    # Cells picked in one go and converted by position, only text and times: csv writes
    # numbers as they are, None as "" (measured in docs/BENCHMARKS.md).
    pick = itemgetter(*columns)
    one = len(columns) == 1  # then itemgetter gives the cell, not a tuple of one
    converted = [i for i, kind in enumerate(columns.values()) if kind in ("text", "time")]
    count = 0
    for row in rows:
        cells = [pick(row)] if one else list(pick(row))
        for i in converted:
            cells[i] = safe_cell(cells[i])
        writer.writerow(cells)
        count += 1
    text.detach()
    return count


def write_csv_lines(lines: Iterable[str], columns: Columns, out: IO[bytes]) -> int:
    """As `write_csv`, from lines already made (each ending in CRLF, its cells made by
    `csv_cell`); returns the number of lines."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    csv.writer(text, lineterminator="\r\n").writerow(list(columns))
    count = 0
    iterator = iter(lines)
    while batch := list(islice(iterator, CSV_LINES_BATCH)):
        text.write("".join(batch))
        count += len(batch)
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


def _arrow_schema(columns: Columns) -> pa.Schema:
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


def export_to(
    path: Path, fmt: str, rows: Iterable[Any], columns: Columns, *, lines: bool = False
) -> int:
    """Write the rows to `path` in `fmt`, all or nothing; returns the number of rows.

    `lines`: the rows are CSV lines already (`write_csv_lines`), and `fmt` is "csv".
    """
    if lines and fmt != "csv":
        raise ValueError(f"CSV lines cannot be written as {fmt}")
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
            writer = write_csv_lines if lines else WRITERS[fmt]
            count = writer(rows, columns, out)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count
