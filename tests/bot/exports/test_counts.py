"""Counts of views and residents per cell: small cells shown as `*`, and whatever a total
would give away hidden too, in every line of the table, the "All" lines included."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.exports import ExportError, ExportFilter, parse_by
from bot.exports.counts import count_rows, tally
from bot.models import AuditEvent
from bot.services.identities import resident_at
from bot.services.views import store_view
from tests.bot.exports.support import DAY, counts_table, lines_with_one_hidden, run_export
from tests.residents import add_resident

NOV, DEC = DAY, DAY + timedelta(days=30)
ROADS, WASTE, HOUSING = "roads_transport", "waste_recycling", "housing"


def add_view(s, address, themes, when, *, area=None, channel="sms"):  # type: ignore[no-untyped-def]
    """A view by the resident at `address` (made, and consenting, if new)."""
    resident = resident_at(s, channel, address) or add_resident(s, channel, address)
    resident.area = area
    view = store_view(
        s, resident, text="something", theme_key=themes[0] if themes else None,
        confidence=0.9, channel=channel, also=[(theme, 0.5) for theme in themes[1:]],
    )  # fmt: skip
    view.created_at = when


@pytest.fixture
def grid(database):
    """Roads: 4 in November, 1 in December; waste: 3 and 5; each view a different resident."""
    with database.transaction() as s:
        n = 0
        for theme, month, views in ((ROADS, NOV, 4), (ROADS, DEC, 1), (WASTE, NOV, 3),
                                    (WASTE, DEC, 5)):  # fmt: skip
            for _ in range(views):
                n += 1
                add_view(s, f"+4477009{n:05d}", [theme], month)


def _counts(database, tmp_path, *, by=("theme", "month"), minimum=3, **filters):
    path = tmp_path / "counts.jsonl"
    run_export(database, path, "counts", "jsonl", by=by, minimum=minimum, **filters)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows, *counts_table(rows, by)


def test_a_small_cell_is_hidden_and_so_are_the_cells_its_totals_would_give_away(
    database, grid, tmp_path
):
    rows, table, hidden = _counts(database, tmp_path)
    # Roads in December (1) is small. Its row would give it away through roads' total (5),
    # so roads in November goes too; its column through December's total (6), so waste in
    # December goes; then November's column hides exactly one, so waste in November goes.
    assert hidden == {(ROADS, "2026-11"), (ROADS, "2026-12"), (WASTE, "2026-11"),
                      (WASTE, "2026-12")}  # fmt: skip
    assert lines_with_one_hidden(table, hidden) == []
    assert table[(ROADS, "All")] == (5, 5) and table[(WASTE, "All")] == (8, 8)
    assert table[("All", "2026-11")] == (7, 7) and table[("All", "2026-12")] == (6, 6)
    assert table[("All", "All")] == (13, 13)
    # Cells first, in the catalogue's order of themes, then the totals.
    assert [(r["theme"], r["month"]) for r in rows][:2] == [(ROADS, "2026-11"), (ROADS, "2026-12")]
    assert rows[-1]["theme"] == "All" and rows[-1]["theme_label"] == "All themes"


def test_the_minimum_comes_from_the_parameter(database, grid, tmp_path):
    assert _counts(database, tmp_path, minimum=1)[2] == set()  # nothing below 1
    assert _counts(database, tmp_path, minimum=3)[2] != set()
    _, table, hidden = _counts(database, tmp_path, minimum=6)
    small = {key for key, (views, _) in table.items() if isinstance(views, int) and views < 6}
    assert small == set()  # 1, 3, 4 and 5 all hidden at 6
    assert lines_with_one_hidden(table, hidden) == []
    assert table[("All", "All")] == (13, 13)


def test_a_view_about_two_themes_counts_under_each_and_once_in_a_month(database):
    with database.transaction() as s:
        add_view(s, "+447700900001", [ROADS, WASTE], NOV)
        views, residents = tally(s, ExportFilter(), ("theme",))
        assert views == {(ROADS,): 1, (WASTE,): 1, ("All",): 2}
        assert residents == {(ROADS,): 1, (WASTE,): 1, ("All",): 1}
        # Without a theme dimension it is one view, not one per theme.
        one = {("2026-11",): 1, ("All",): 1}
        assert tally(s, ExportFilter(), ("month",)) == (one, one)
        assert tally(s, ExportFilter(themes=(ROADS, WASTE)), ("month",))[0] == one
        # Filtered by one theme, the view counts under that theme only.
        assert tally(s, ExportFilter(themes=(WASTE,)), ("theme",))[0] == {
            (WASTE,): 1, ("All",): 1
        }  # fmt: skip


def test_few_residents_hide_a_cell_even_with_many_views(database, tmp_path):
    with database.transaction() as s:
        for _ in range(6):
            add_view(s, "+447700900001", [ROADS], NOV)  # one resident, six views
        for n in range(6):
            add_view(s, f"+44770090010{n}", [WASTE], NOV)
    _, table, hidden = _counts(database, tmp_path, by=("theme",), minimum=3)
    assert (ROADS,) in hidden  # six views, one resident
    assert (WASTE,) in hidden  # its line's only other cell: 12 - 6 would give roads away
    assert table[("All",)] == (12, 7)


def test_every_line_of_a_four_way_table_hides_none_or_two_or_more(database, tmp_path):
    rng = random.Random(7)
    with database.transaction() as s:
        for _ in range(40):
            add_view(
                s, f"+4477009{rng.randint(0, 25):05d}",
                rng.sample([ROADS, WASTE, HOUSING], rng.choice((1, 1, 2))),
                rng.choice((NOV, DEC)), area=rng.choice(("LS6", "LS7")),
                channel=rng.choice(("sms", "telegram")),
            )  # fmt: skip
    by = ("theme", "month", "area", "channel")
    with database.transaction() as s:
        _, residents = tally(s, ExportFilter(), by)
    _, table, hidden = _counts(database, tmp_path, by=by, minimum=4)
    assert lines_with_one_hidden(table, hidden) == []
    assert {key for key, n in residents.items() if 0 < n < 4} <= hidden
    assert {len(key) for key in table} == {4} and ("All", "All", "All", "All") in table


def test_hidden_cells_show_a_star_in_csv_and_the_export_is_audited(database, grid, tmp_path):
    path = tmp_path / "counts.csv"
    assert run_export(database, path, "counts", "csv", minimum=3, themes=[ROADS, WASTE]) == 9
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert list(rows[0]) == ["theme", "theme_label", "month", "views", "residents"]
    december = next(r for r in rows if (r["theme"], r["month"]) == (ROADS, "2026-12"))
    assert (december["views"], december["residents"]) == ("*", "*")
    with database.transaction() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.counts"))
        assert json.loads(event.detail) == {
            "format": "csv", "filters": {"themes": [ROADS, WASTE]}, "rows": 9,
            "by": ["theme", "month"], "min_count": 3,
        }  # fmt: skip


def test_nothing_to_count_gives_an_empty_table(database, tmp_path):
    assert _counts(database, tmp_path, themes=[HOUSING])[0] == []


@pytest.mark.parametrize(
    ("text", "by"),
    [("theme,month", ("theme", "month")), ("month, THEME", ("theme", "month")),
     ("channel,area,month,theme", ("theme", "month", "area", "channel"))],
)  # fmt: skip
def test_by_takes_dimensions_in_any_order(text, by):
    assert parse_by(text) == by


@pytest.mark.parametrize("text", ["", "colour", "theme,postcode", " , "])
def test_by_refuses_unknown_dimensions_in_one_line(text):
    with pytest.raises(ExportError, match="--by takes some of theme,month,area,channel"):
        parse_by(text)


def test_count_rows_are_nothing_when_there_is_nothing(database):
    with database.transaction() as s:
        assert list(count_rows(s, ExportFilter(), ("theme",), 8)) == []
