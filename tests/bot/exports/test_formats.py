"""The file formats: no spreadsheet formula ever, every script byte-exact, bad requests
refused in one line with no file left behind."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timezone

import pytest
from openpyxl import Workbook, load_workbook

from bot.exports import ExportError, ExportFilter, ExportRequest, export, format_of
from bot.exports.formats import FORMULA_STARTS, export_to, safe_cell, write_csv, write_xlsx
from bot.services.views import store_view
from tests.bot.exports.support import DAY, KEY, run_export
from tests.residents import add_resident

COLUMNS = {"n": "int", "text": "text", "at": "time"}
FORMULAS = [start + "1+1" for start in FORMULA_STARTS] + [
    '=HYPERLINK("http://evil","click")',
    "+44 7700",
    "-2+3",
    "@SUM(A1:A2)",
    "=",
]
ORDINARY = ["1+1", "a=b", "'already quoted", "", "ŵ=ŷ", " =not at the start"]
# Emoji (with a skin tone and a joined family), Welsh with precomposed and combining
# circumflexes, Hebrew and Arabic (right to left), a right-to-left mark, CJK.
SCRIPTS = [
    "bysiau ŵ ŷ Ŵ Ŷ and w\u0302 y\u0302 👍🏽 👩\u200d👩\u200d👧",
    "שלום, האוטובוס מאחר",
    "مرحبا، الحافلة متأخرة دائما",
    "\u200fמספר 42\u200f and 公交车",  # noqa: RUF001 - Hebrew letters, as meant
]


def _rows(texts):
    return [{"n": i, "text": text, "at": DAY} for i, text in enumerate(texts)]


def _csv_cells(raw: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _xlsx(texts) -> bytes:
    out = io.BytesIO()
    write_xlsx(_rows(texts), COLUMNS, out)
    return out.getvalue()


@pytest.mark.parametrize("text", FORMULAS)
def test_csv_cells_that_would_run_as_formulas_get_an_apostrophe(text):
    out = io.BytesIO()
    write_csv(_rows([text]), COLUMNS, out)
    assert _csv_cells(out.getvalue())[1][1] == "'" + text


@pytest.mark.parametrize("text", ORDINARY)
def test_csv_cells_that_are_not_formulas_are_left_alone(text):
    out = io.BytesIO()
    write_csv(_rows([text]), COLUMNS, out)
    assert _csv_cells(out.getvalue())[1][1] == text


def test_openpyxl_would_store_a_formula_but_never_does_after_escaping():
    """openpyxl takes any string starting with "=" as a formula (data type "f")."""
    book = Workbook(write_only=True)
    book.create_sheet("raw").append(["=1+1"])
    out = io.BytesIO()
    book.save(out)
    assert load_workbook(io.BytesIO(out.getvalue())).active["A1"].data_type == "f"

    raw = _xlsx(FORMULAS + ORDINARY)
    sheet = load_workbook(io.BytesIO(raw)).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert [cell.data_type for cell in cells if cell.data_type == "f"] == []
    texts = [row[1].value for row in sheet.iter_rows(min_row=2)]
    # XML reads a carriage return back as a line feed: "\r1+1" returns as "'\n1+1".
    expected = ["'" + t.replace("\r", "\n") for t in FORMULAS] + [t or None for t in ORDINARY]
    assert texts == expected
    with zipfile.ZipFile(io.BytesIO(raw)) as book_zip:
        xml = book_zip.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml


def test_xlsx_control_characters_become_visible_replacements():
    sheet = load_workbook(io.BytesIO(_xlsx(["bins\x01 late\x0b"]))).active
    assert sheet["B2"].value == "bins\ufffd late\ufffd"


def test_safe_cell_only_changes_text_and_times():
    assert safe_cell(-3) == -3 and safe_cell(-0.5) == -0.5  # numbers stay numbers
    assert safe_cell(None) == ""
    assert safe_cell(datetime(2026, 1, 2, tzinfo=timezone.utc)) == "2026-01-02T00:00:00+00:00"


def test_formula_like_views_are_escaped_in_spreadsheets_and_kept_in_data_formats(
    database, tmp_path
):
    """Through a whole export: CSV and XLSX escape; JSON Lines and Parquet keep the text."""
    import pyarrow.parquet as pq

    texts = ["=1+1 bins", "+44 is the code", "-5 degrees at the stop", "@council fix it"]
    with database.transaction() as s:
        ann = add_resident(s, "telegram", "4242")
        for text in texts:
            store_view(s, ann, text=text, theme_key=None, confidence=None, channel="telegram")
    escaped = ["'" + t for t in texts]
    written = {fmt: tmp_path / f"views.{fmt}" for fmt in ("csv", "xlsx", "jsonl", "parquet")}
    for fmt, path in written.items():
        assert run_export(database, path, "views", fmt) == 4
    assert [row[-1] for row in _csv_cells(written["csv"].read_bytes())[1:]] == escaped
    sheet = load_workbook(written["xlsx"]).active
    assert [row[-1].value for row in sheet.iter_rows(min_row=2)] == escaped
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    lines = written["jsonl"].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == texts
    assert pq.read_table(written["parquet"]).column("text").to_pylist() == texts


def test_every_script_survives_every_format_byte_for_byte(database, tmp_path):
    import pyarrow.parquet as pq

    with database.transaction() as s:
        ann = add_resident(s, "telegram", "4242")
        for text in SCRIPTS:
            store_view(s, ann, text=text, theme_key=None, confidence=None, channel="telegram")
    read = {
        "csv": lambda p: [row[-1] for row in _csv_cells(p.read_bytes())[1:]],
        "xlsx": lambda p: [r[-1].value for r in load_workbook(p).active.iter_rows(min_row=2)],
        "jsonl": lambda p: [json.loads(line)["text"] for line in p.read_bytes().split(b"\n")[:-1]],
        "parquet": lambda p: pq.read_table(p).column("text").to_pylist(),
    }
    for fmt, reader in read.items():
        path = tmp_path / f"views.{fmt}"
        run_export(database, path, "views", fmt)
        texts = reader(path)
        assert [t.encode("utf-8") for t in texts] == [t.encode("utf-8") for t in SCRIPTS], fmt
    raw = (tmp_path / "views.jsonl").read_bytes()
    assert "w\u0302".encode() in raw and "ŵ".encode() in raw  # not normalised either way
    assert b"\\u" not in raw  # written as UTF-8, not escaped


def test_a_format_not_made_for_the_kind_is_refused_in_one_line(tmp_path):
    with pytest.raises(ExportError) as refused:
        ExportRequest("conversations", "csv", ExportFilter())
    assert str(refused.value) == "conversations come as jsonl or parquet, not csv"
    with pytest.raises(ExportError, match="counts come as csv or xlsx or jsonl, not parquet"):
        ExportRequest("counts", "parquet", ExportFilter())
    with pytest.raises(ExportError, match="unknown export 'people'"):
        ExportRequest("people", "csv", ExportFilter())
    with pytest.raises(ExportError, match="not pdf"):
        ExportRequest("views", "pdf", ExportFilter())
    with pytest.raises(ExportError, match=r"unknown format 'csv': use --format jsonl or parquet"):
        format_of(tmp_path / "talk.csv", None, ("jsonl", "parquet"))
    with pytest.raises(ExportError, match="unknown format '\\(none\\)'"):
        format_of(tmp_path / "views", None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["no folder", "a file for a folder", "a folder"])
def test_an_unwritable_path_is_refused_in_one_line_with_no_file(tmp_path, where):
    (tmp_path / "plain").write_text("x")
    (tmp_path / "taken").mkdir()
    path = {
        "no folder": tmp_path / "no" / "such" / "views.csv",
        "a file for a folder": tmp_path / "plain" / "views.csv",
        "a folder": tmp_path / "taken",
    }[where]
    with pytest.raises(ExportError, match="cannot write to") as refused:
        export_to(path, "csv", iter(_rows(["a"])), COLUMNS)
    assert "\n" not in str(refused.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["plain", "taken"]


def test_an_export_that_fails_leaves_the_previous_file_untouched(database, tmp_path):
    """All or nothing: a failed export does not truncate what was there."""
    path = tmp_path / "views.csv"
    path.write_bytes(b"yesterday's export")
    with database.transaction() as s, pytest.raises(ExportError, match="--question"):
        export(
            s, ExportRequest("reactions", "csv", ExportFilter(question_id=3)), path,
            key=KEY, actor="t",
        )  # fmt: skip
    assert path.read_bytes() == b"yesterday's export"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".export-")]


CELLS = [
    *FORMULAS, *ORDINARY, *SCRIPTS,
    "a,b", 'say "hi"', '"quoted"', "two\nlines", "cr\rhere", "crlf\r\n", ",", '"', " ",
    "=a,b", '-"x"', "\t,", None, 0, -3, 0.1, 1e-07, 2.5e20, float("nan"), True,
    DAY, DAY.replace(microsecond=250000), datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
]  # fmt: skip


def test_cells_made_without_the_csv_module_are_the_same_bytes():
    """`csv_cell` (the views' CSV, made line by line) writes every cell as `write_csv`."""
    from bot.exports.formats import csv_cell, write_csv_lines

    columns = {f"c{i}": "text" for i in range(len(CELLS))}
    by_module, by_lines = io.BytesIO(), io.BytesIO()
    rows = [dict(zip(columns, CELLS, strict=True)), dict(zip(columns, CELLS[::-1], strict=True))]
    write_csv(rows, columns, by_module)
    lines = [",".join(csv_cell(cell) for cell in row.values()) + "\r\n" for row in rows]
    assert write_csv_lines(lines, columns, by_lines) == 2
    assert by_lines.getvalue() == by_module.getvalue()
    for cell in CELLS:  # each alone too
        single = io.BytesIO()
        write_csv([{"c": cell, "n": 1}], {"c": "text", "n": "int"}, single)
        assert single.getvalue().decode("utf-8-sig") == f"c,n\r\n{csv_cell(cell)},1\r\n"


def test_a_nul_is_refused_alike():
    from bot.exports.formats import csv_cell

    with pytest.raises(csv.Error):
        write_csv([{"c": "a\x00b"}], {"c": "text"}, io.BytesIO())
    for text in ("a\x00b", "a,\x00"):
        with pytest.raises(csv.Error):
            csv_cell(text)


def test_times_read_as_sqlite_stores_them_are_the_iso_times_of_datetimes():
    from sqlalchemy.dialects import sqlite

    from bot.exports.views import _time_cell
    from bot.models import View

    dialect = sqlite.dialect()
    to_datetime = View.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
    for stored, iso in [
        ("2026-11-02 10:00:00.000000", "2026-11-02T10:00:00+00:00"),
        ("2026-11-21 08:30:15.250000", "2026-11-21T08:30:15.250000+00:00"),
        ("2026-01-02 03:04:05", "2026-01-02T03:04:05+00:00"),  # written by hand, not by us
        ("2026-01-02 03:04:05.5", "2026-01-02T03:04:05.000005+00:00"),  # as SQLAlchemy reads it
    ]:
        assert _time_cell(stored, to_datetime) == iso == to_datetime(stored).isoformat()
    assert _time_cell(DAY, None) == DAY.isoformat()
