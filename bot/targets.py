"""Who an update or a check-in question is aimed at: its themes, districts and window.

Updates and check-in questions keep their themes and districts as JSON lists in two text
columns (`themes`, `areas`). This is the one place that reads and writes them: the models'
`targets` property (bot/models.py) and the queries that select the columns alone use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


def load_keys(text: str | None) -> tuple[str, ...]:
    """A `themes` or `areas` column's keys ("[]" or NULL: none)."""
    return tuple(json.loads(text or "[]"))


def dump_keys(keys: Iterable[str]) -> str:
    """Keys as a `themes` or `areas` column stores them: a JSON list."""
    return json.dumps(list(keys))


@dataclass(frozen=True)
class Targets:
    """Themes and postcode districts (empty: every theme, everywhere) and a time window.

    The window is, for an update, when the views it answers were given (`since` included,
    `until` excluded; None: open); for a check-in question, when it is asked (its start
    and end).
    """

    themes: tuple[str, ...] = ()  # theme keys
    districts: tuple[str, ...] = ()  # postcode districts (outward codes)
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:  # tuples, not the caller's lists
        object.__setattr__(self, "themes", tuple(self.themes))
        object.__setattr__(self, "districts", tuple(self.districts))

    @property
    def narrowed(self) -> bool:
        """Whether it names any theme or district (if not, it picks no view by itself)."""
        return bool(self.themes or self.districts)

    @classmethod
    def from_json(
        cls,
        themes: str | None,
        areas: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Targets:
        """Targets from the `themes` and `areas` columns as stored, and a window."""
        return cls(load_keys(themes), load_keys(areas), since, until)

    def to_json(self) -> tuple[str, str]:
        """The `themes` and `areas` columns' values."""
        return dump_keys(self.themes), dump_keys(self.districts)
