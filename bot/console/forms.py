"""Reading the console's form and query fields into typed values, with short messages."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone


class BadInput(ValueError):
    """A field an officer filled in that we cannot read."""


def day(value: str | None, what: str) -> date | None:
    """A YYYY-MM-DD date, or None when empty."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{what} must be a date like 2026-03-01") from None


def midnight(value: date | None, days: int = 0) -> datetime | None:
    """The start of `value` (plus `days`) in UTC, or None: the console's dates are UTC days."""
    if value is None:
        return None
    return datetime.combine(value + timedelta(days=days), time.min, tzinfo=timezone.utc)


def words(value: str | None) -> list[str]:
    """Items of a comma- or space-separated list ("LS6, LS7")."""
    return [w for w in re.split(r"[\s,;]+", value or "") if w]


def numbers(value: str | None, what: str) -> list[int]:
    """Whole numbers from a comma- or space-separated list ("12, 15")."""
    items = words(value)
    if not all(item.isdigit() and len(item) < 10 for item in items):
        raise BadInput(f"{what} must be view numbers separated by commas, like 12, 15")
    return [int(item) for item in items]


def page_number(value: str | None) -> int:
    """A page number from the query string (1 when missing or odd)."""
    return int(value) if value and value.isdigit() and 0 < len(value) < 7 else 1
