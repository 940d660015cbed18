"""Views and reactions in every format against files committed under golden/.

Pseudonyms and update ids depend on the database's ids (PostgreSQL's sequences carry on
between tests), so the golden files say <jo>, <ann> and <update>, filled in from this
run's ids before comparing. CSV and JSON Lines are compared byte for byte; XLSX by the
cells read back with openpyxl (the zip holds timestamps); Parquet by its schema and rows.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from openpyxl import load_workbook

from tests.bot.exports.support import GOLDEN, fill_json, fill_text, read_golden_json, run_export


@pytest.mark.parametrize(("kind", "rows"), [("views", 5), ("reactions", 2)])
def test_every_format_matches_its_golden_file(database, golden, tmp_path, kind, rows):
    import pyarrow.parquet as pq

    for fmt in ("csv", "jsonl"):  # byte for byte: BOM, CRLF, quoting, UTF-8
        path = tmp_path / f"{kind}.{fmt}"
        assert run_export(database, path, kind, fmt) == rows
        expected = fill_text((GOLDEN / f"{kind}.{fmt}").read_bytes().decode("utf-8"), golden)
        assert path.read_bytes() == expected.encode("utf-8"), fmt

    path = tmp_path / f"{kind}.xlsx"
    run_export(database, path, kind, "xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["export"]
    cells = [[cell.value for cell in row] for row in book["export"].iter_rows()]
    assert cells == fill_json(read_golden_json(f"{kind}.xlsx.json"), golden)

    path = tmp_path / f"{kind}.parquet"
    run_export(database, path, kind, "parquet")
    table = pq.read_table(path)
    expected = fill_json(read_golden_json(f"{kind}.parquet.json"), golden)
    assert [[field.name, str(field.type)] for field in table.schema] == expected["schema"]
    read_back = [
        {name: value.isoformat() if isinstance(value, datetime) else value
         for name, value in row.items()}
        for row in table.to_pylist()
    ]  # fmt: skip
    assert read_back == expected["rows"]
