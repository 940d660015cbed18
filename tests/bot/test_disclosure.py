"""Small-number suppression: cells from 1 to minimum - 1 are hidden, and so is whatever a
total would give away; no line of a published table hides exactly one of its entries."""

from __future__ import annotations

import random
from itertools import product

import pytest

from bot.disclosure import TOTAL, primary, suppressed_cells
from tests.bot.exports.support import lines_with_one_hidden

A = TOTAL


def with_totals(cells: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """The table with every "All" total (per dimension and across them), as counts have it."""
    table: dict[tuple[str, ...], int] = {}
    for key, count in cells.items():
        for total in product(*((value, A) for value in key)):
            table[total] = table.get(total, 0) + count
    return table


@pytest.mark.parametrize(("count", "hidden"), [(0, False), (1, True), (7, True), (8, False)])
def test_a_count_from_one_to_minimum_less_one_is_primary_and_zero_is_published(count, hidden):
    assert primary(count, 8) is hidden


def test_the_minimum_is_a_parameter():
    table = with_totals({("a",): 3, ("b",): 9, ("c",): 12})
    assert suppressed_cells(table, 3) == set()
    assert suppressed_cells(table, 4) == {("a",), ("b",)}  # 3 is small now; 9 goes with it
    assert suppressed_cells(table, 10) == {("a",), ("b",)}  # two hidden: 12 - 12 says nothing


def test_one_small_cell_takes_the_next_smallest_of_its_line_with_it():
    table = with_totals({("a",): 5, ("b",): 2, ("c",): 30})
    assert suppressed_cells(table, 3) == {("a",), ("b",)}  # not the total: 37 - 30 = 7


def test_a_small_cell_alone_in_its_line_hides_the_total():
    assert suppressed_cells(with_totals({("a",): 2}), 3) == {("a",), (A,)}


def test_zero_is_published_and_never_hides_a_small_cell():
    """Hiding a zero protects nothing (the total less the rest still says "2 or 1")."""
    table = with_totals({("a",): 0, ("b",): 2, ("c",): 9})
    assert suppressed_cells(table, 3) == {("b",), ("c",)}
    only_zeros = with_totals({("a",): 0, ("b",): 2})
    assert suppressed_cells(only_zeros, 3) == {("b",), (A,)}


def test_cells_asked_for_are_hidden_and_protected_too():
    """Counts hide a cell whose residents are few even when its views are many."""
    table = with_totals({("a",): 40, ("b",): 50, ("c",): 60})
    hidden = suppressed_cells(table, 3, also=frozenset({("c",)}))
    assert hidden == {("a",), ("c",)}


def test_two_dimensions_through_the_totals():
    """theme x month: roads in December is small; its row and its column each need a
    second hidden cell, which then needs one in its own line, and so on."""
    cells = {
        ("roads", "2026-11"): 4, ("roads", "2026-12"): 1,
        ("waste", "2026-11"): 3, ("waste", "2026-12"): 5,
    }  # fmt: skip
    table = with_totals(cells)
    hidden = suppressed_cells(table, 3)
    assert hidden == {
        ("roads", "2026-11"), ("roads", "2026-12"), ("waste", "2026-11"), ("waste", "2026-12")
    }  # fmt: skip
    assert lines_with_one_hidden(table, hidden) == []
    assert (A, "2026-11") not in hidden and (A, A) not in hidden  # 7 and 13 stay published


def test_three_dimensions():
    """theme x month x channel: one small cell, and every line through it, totals included."""
    cells = {
        key: 20
        for key in product(("roads", "waste", "housing"), ("2026-11", "2026-12"), ("sms", "tg"))
    }
    cells[("roads", "2026-12", "tg")] = 2
    cells[("waste", "2026-11", "sms")] = 0
    table = with_totals(cells)
    hidden = suppressed_cells(table, 5)
    assert ("roads", "2026-12", "tg") in hidden and ("waste", "2026-11", "sms") not in hidden
    assert lines_with_one_hidden(table, hidden) == []
    # Each of the small cell's three lines hides a second entry.
    small = ("roads", "2026-12", "tg")
    for d in range(3):
        line = [k for k in table if all(k[i] == small[i] for i in range(3) if i != d)]
        assert sum(k in hidden for k in line) >= 2, d


def test_a_table_with_nothing_small_hides_nothing():
    assert suppressed_cells(with_totals({("a", "x"): 9, ("b", "x"): 8}), 8) == set()
    assert suppressed_cells({}, 8) == set()


def _random_table(rng: random.Random) -> dict[tuple[str, ...], int]:
    dimensions = rng.choice((1, 2, 2, 3, 3))
    sizes = [rng.randint(1, 4) for _ in range(dimensions)]
    values = [[f"v{d}{i}" for i in range(n)] for d, n in enumerate(sizes)]
    sparse = rng.random() < 0.3  # counts omit empty cells: some tables do too
    cells = {}
    for key in product(*values):
        count = rng.choice((0, 0, 1, 2, 3, 5, 8, 9, 13, 40, 100))
        if count or not sparse:
            cells[key] = count
    return with_totals(cells) if cells else {}


def test_random_tables_hide_every_small_cell_and_never_one_alone_in_a_line():
    rng = random.Random(20261102)
    for _ in range(250):
        table = _random_table(rng)
        minimum = rng.randint(2, 10)
        hidden = suppressed_cells(table, minimum)
        assert {k for k, n in table.items() if 0 < n < minimum} <= hidden, table
        assert lines_with_one_hidden(table, hidden) == [], (table, minimum, hidden)
        assert all(table[k] != 0 for k in hidden), (table, minimum, hidden)
        assert hidden <= table.keys()
