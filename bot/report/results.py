"""What the report shows: its numbers as published, a count or HIDDEN (`*`).

A `Report` holds every number the page draws, already suppressed: nothing else reaches the
HTML. A share is shown only when both of its counts are (`share`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.disclosure import primary

HIDDEN = "*"
Count = int | str  # a published count, or HIDDEN
SCALE = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Summary:
    """The headline numbers of the period."""

    views: Count
    residents: Count
    updates: int  # each is listed by name below, so the number itself is not suppressed
    themes: int  # themes with at least one view


@dataclass(frozen=True)
class ThemeSeries:
    """One theme's views in each month of the period, and in all."""

    key: str  # a theme key, or NO_THEME
    label: str
    months: tuple[Count, ...]
    total: Count


@dataclass(frozen=True)
class ThemeMonths:
    """Views per theme per month, with the totals of each month."""

    months: tuple[str, ...]  # "2026-09"
    themes: tuple[ThemeSeries, ...]
    totals: tuple[Count, ...]
    total: Count


@dataclass(frozen=True)
class AreaThemes:
    """One postcode district: its views and its biggest themes (published cells only)."""

    area: str  # a district, or NO_AREA
    label: str
    views: Count
    top: tuple[tuple[str, int], ...]  # (theme key, views), most first


@dataclass(frozen=True)
class ScaleResult:
    """The answers to one 1-5 check-in question."""

    question_id: int
    wording: str
    answers: Count
    distribution: tuple[Count, ...]  # answers 1 to 5
    mean: float | None  # one decimal; None when the number of answers is hidden


@dataclass(frozen=True)
class UpdateResult:
    """One published "you said, we did" update: whom it reached and how they reacted."""

    update_id: int
    title: str
    published_at: datetime
    coming: bool  # still to happen: residents were not asked whether it helped
    themes: tuple[str, ...]
    areas: tuple[str, ...]
    residents: Count  # outbox rows: the residents it was for
    sent: Count  # sent or delivered
    delivered: Count  # confirmed by the network (SMS)
    helped: Count
    not_helped: Count
    comments: Count


@dataclass(frozen=True)
class LoopResult:
    """Closing the loop on one theme: who spoke, who was told of a change, did it help."""

    key: str
    label: str
    spoke: Count
    told: Count
    answered: Count  # of those told, residents who said whether it helped
    helped: Count

    @property
    def told_share(self) -> float | None:
        """Told / spoke, when both are published."""
        return share(self.told, self.spoke)

    @property
    def helped_share(self) -> float | None:
        """Said it helped / answered, when both are published."""
        return share(self.helped, self.answered)


@dataclass(frozen=True)
class Report:
    """Everything the report shows, suppressed: nothing else reaches the HTML."""

    org_name: str
    since: datetime | None
    until: datetime | None  # exclusive
    filters: dict[str, Any]
    minimum: int
    generated_at: datetime
    summary: Summary
    theme_months: ThemeMonths
    areas: tuple[AreaThemes, ...]
    scales: tuple[ScaleResult, ...]
    updates: tuple[UpdateResult, ...]
    loops: tuple[LoopResult, ...]
    timezone: str = "UTC"


def published(count: int, minimum: int, hidden: bool = False) -> Count:
    """The count as published: `*` when it is from 1 to minimum - 1, or `hidden`."""
    return HIDDEN if hidden or primary(count, minimum) else count


def share(numerator: Count, denominator: Count) -> float | None:
    """numerator / denominator when both are published and the denominator is not 0."""
    if isinstance(numerator, str) or isinstance(denominator, str) or not denominator:
        return None
    return numerator / denominator
