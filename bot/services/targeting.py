"""Checking who a question or an update is aimed at: theme keys and postcode districts."""

from __future__ import annotations

from bot.postcodes import outward_code
from bot.themes import is_theme


def checked_targets(
    themes: list[str] | None, areas: list[str] | None, error: type[ValueError]
) -> tuple[list[str], list[str]]:
    """Known theme keys and the districts of `areas`, each once; raises `error` otherwise."""
    themes = list(dict.fromkeys(themes or []))
    unknown = [t for t in themes if not is_theme(t)]
    if unknown:
        raise error(f"unknown themes: {', '.join(unknown)}")
    districts = []
    for area in areas or []:
        district = outward_code(area)
        if district is None:
            raise error(f"{area!r} is not a postcode district like LS6")
        districts.append(district)
    return themes, list(dict.fromkeys(districts))
