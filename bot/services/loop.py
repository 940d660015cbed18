"""Loop status: for each theme and district, how many residents spoke lately and how many of
them have been told of a change since; the largest concerns nobody has answered first.

Told, as the engagement report counts it (bot/report/gather.py): an update about the theme (for
everywhere, or for the district), or one that picked the resident's view under the theme
in the district, was sent or delivered to them, after their first view of the period.
Views officers hid are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import TOLD, OutboxMessage, Update, UpdateView, View, ViewTheme, utcnow
from bot.services.curation import visible
from bot.targets import load_keys
from bot.themes import label

RECENT, PERIOD = 30, 90  # days: views in the last month, and the period residents are counted
Cell = tuple[str, str | None]  # (theme key, district or None)


@dataclass(frozen=True)
class LoopRow:
    """One theme in one district: what residents said lately and who has been told since."""

    theme_key: str
    area: str | None  # None: residents who gave no district
    views_recent: int  # in the last RECENT days
    views: int  # in the last PERIOD days
    residents: int  # who spoke in the last PERIOD days
    since: datetime  # the first of those views
    told: int  # of those residents, told of a change after they spoke
    update_id: int | None  # the newest update that told one of them
    update_title: str | None
    told_at: datetime | None  # when it reached them (the latest send)

    @property
    def share(self) -> float:
        """The share of the residents who were told (0 to 1)."""
        return self.told / self.residents if self.residents else 0.0

    @property
    def sentence(self) -> str:
        """The row in one sentence, as an officer would say it."""
        people = f"{self.residents} resident{'' if self.residents == 1 else 's'}"
        where = f"in {self.area}" if self.area else "in no known district"
        spoke = f"{people} {where} spoke about {label(self.theme_key).lower()} since "
        spoke += f"{self.since:%B}"
        if not self.told:
            told = "nobody has been told anything" if self.residents > 1 else (
                "they have not been told anything"
            )  # fmt: skip
            return f"{spoke}; {told}."
        share = f"{self.share:.0%}"
        them = "all of them" if self.told == self.residents else f"{self.told} of them ({share})"
        when = f"{self.told_at:%-d %B}" if self.told_at else ""
        return f"{spoke}; {them} told of a change, most recently on {when}."


def _about(keys_json: str) -> set[str]:
    return set(load_keys(keys_json))


def loop_status(
    session: Session,
    now: datetime | None = None,
    *,
    theme: str = "",
    area: str = "",
) -> list[LoopRow]:
    """Every theme and district with views in the last PERIOD days (`theme`, `area` narrow
    it): those nobody was told about first, largest first; then by residents not told."""
    now = now or utcnow()
    start, recent = now - timedelta(days=PERIOD), now - timedelta(days=RECENT)
    query = (
        select(ViewTheme.theme_key, View.area, View.resident_id, View.created_at)
        .join(View, View.id == ViewTheme.view_id)
        .where(View.created_at >= start, View.created_at <= now, visible())
    )
    if theme:
        query = query.where(ViewTheme.theme_key == theme)
    if area:
        query = query.where(View.area == area.strip().upper())
    views: dict[Cell, int] = defaultdict(int)
    views_recent: dict[Cell, int] = defaultdict(int)
    first: dict[Cell, dict[int, datetime]] = defaultdict(dict)
    for theme_key, district, resident_id, created_at in session.execute(query):
        cell = (theme_key, district)
        views[cell] += 1
        views_recent[cell] += created_at >= recent
        spoke = first[cell].get(resident_id)
        if spoke is None or created_at < spoke:
            first[cell][resident_id] = created_at
    if not views:
        return []
    updates = {
        update_id: (title, _about(themes), _about(areas))
        for update_id, title, themes, areas in session.execute(
            select(Update.id, Update.title, Update.themes, Update.areas).where(
                Update.published_at.is_not(None)
            )
        )
    }
    picked = set(
        session.execute(
            select(UpdateView.update_id, View.resident_id, ViewTheme.theme_key, View.area)
            .join(View, View.id == UpdateView.view_id)
            .join(ViewTheme, ViewTheme.view_id == View.id)
            .where(visible())
        ).all()
    )
    sent: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    at = func.coalesce(OutboxMessage.sent_at, Update.published_at)
    spoken = select(View.resident_id).where(View.created_at >= start, visible())
    for update_id, resident_id, when in session.execute(
        select(OutboxMessage.update_id, OutboxMessage.resident_id, at)
        .join(Update, Update.id == OutboxMessage.update_id)
        .where(OutboxMessage.status.in_(TOLD), OutboxMessage.resident_id.in_(spoken))
    ):
        sent[resident_id].append((update_id, when))
    rows = []
    for cell, residents in first.items():
        theme_key, district = cell
        told: set[int] = set()
        newest: tuple[datetime, int] | None = None
        for resident_id, spoke_at in residents.items():
            for update_id, when in sent.get(resident_id, ()):
                _, about, areas = updates.get(update_id, ("", set(), set()))
                answers = theme_key in about and (not areas or district in areas)
                if (
                    when is None
                    or when < spoke_at
                    or not (answers or (update_id, resident_id, theme_key, district) in picked)
                ):
                    continue
                told.add(resident_id)
                if newest is None or (when, update_id) > newest:
                    newest = (when, update_id)
        rows.append(
            LoopRow(
                theme_key=theme_key,
                area=district,
                views_recent=views_recent[cell],
                views=views[cell],
                residents=len(residents),
                since=min(residents.values()),
                told=len(told),
                update_id=newest[1] if newest else None,
                update_title=updates[newest[1]][0] if newest else None,
                told_at=newest[0] if newest else None,
            )
        )
    return sorted(
        rows,
        key=lambda r: (r.told > 0, -(r.residents - r.told), -r.views, r.theme_key, r.area or "~"),
    )
