"""Shared helpers for the export tests: the key, a day, running an export, reading tables."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.db import Database
from bot.exports import ExportFilter, ExportRequest, export
from bot.models import ConsentEvent, Resident
from bot.pseudonyms import pseudonym

KEY = "test-pseudonym-key"
DAY = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
GOLDEN = Path(__file__).parent / "golden"

Key = tuple[str, ...]


def run_export(
    database: Database,
    path: Path,
    kind: str,
    fmt: str,
    *,
    by: tuple[str, ...] = ("theme", "month"),
    minimum: int = 8,
    tracker: Database | None = None,
    **filters: Any,
) -> int:
    """One export through `bot.exports.export`, its filters checked as the CLI checks them."""
    wanted = ExportFilter.checked(**filters)
    with database.transaction() as s:
        return export(
            s, ExportRequest(kind, fmt, wanted, by), path, key=KEY, actor="cli:test",
            tracker=tracker, minimum=minimum,
        )  # fmt: skip


def consent_at(session, resident: Resident, *, given: bool, at: datetime) -> None:  # type: ignore[no-untyped-def]
    """A consent answer (or a withdrawal) at a known time: consent events are append-only."""
    kind = "given" if given else "refused"
    event = ConsentEvent(
        resident_id=resident.id, kind=kind, store_views=given, contact=given,
        channel="sms", created_at=at,
    )  # fmt: skip
    session.add(event)
    resident.consent = kind
    resident.contact_ok = given
    session.flush()


def placeholders(ids: dict[str, int]) -> dict[str, Any]:
    """What each placeholder of the golden files stands for, given this database's ids."""
    return {
        "<jo>": pseudonym(ids["jo"], KEY),
        "<ann>": pseudonym(ids["ann"], KEY),
        "<update>": ids["update"],
    }


def fill_text(golden: str, ids: dict[str, int]) -> str:
    """A golden text file with its placeholders replaced by this database's values."""
    for name, value in placeholders(ids).items():
        golden = golden.replace(name, str(value))
    return golden


def fill_json(golden: Any, ids: dict[str, int]) -> Any:
    """A golden JSON document with every placeholder value replaced (numbers stay numbers)."""
    values = placeholders(ids)
    if isinstance(golden, list):
        return [fill_json(item, ids) for item in golden]
    if isinstance(golden, dict):
        return {name: fill_json(item, ids) for name, item in golden.items()}
    if isinstance(golden, str) and golden in values:
        return values[golden]
    return golden


def read_golden_json(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def lines_with_one_hidden(keys: Collection[Key], hidden: Collection[Key]) -> list[list[Key]]:
    """The lines of a table that hide exactly one entry (a total would give it away).

    A line is every cell that agrees with the others on all dimensions but one, the "All"
    total of that dimension included; lines through totals count as well.
    """
    lines: dict[tuple[int, tuple[str | None, ...]], list[Key]] = defaultdict(list)
    for key in keys:
        for d in range(len(key)):
            lines[(d, (*key[:d], None, *key[d + 1 :]))].append(key)
    return [
        members for members in lines.values() if sum(member in hidden for member in members) == 1
    ]


def counts_table(
    rows: Iterable[dict[str, Any]], by: tuple[str, ...]
) -> tuple[dict[Key, Any], set[Key]]:
    """A published counts table as {key: (views, residents)} and the keys shown as `*`."""
    table = {tuple(row[d] for d in by): (row["views"], row["residents"]) for row in rows}
    hidden = {key for key, (views, residents) in table.items() if "*" in (views, residents)}
    for key, (views, residents) in table.items():
        # A cell is hidden whole: never one of its two numbers without the other.
        assert (views == "*") == (residents == "*"), key
    return table, hidden
