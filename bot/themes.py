"""The theme catalogue (data/themes.yml): keys, labels, descriptions and naming words."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT

CATALOGUE_PATH = PROJECT_ROOT / "data" / "themes.yml"


@dataclass(frozen=True)
class Theme:
    """One theme residents' views are stored under."""

    key: str
    label: str
    description: str
    words: tuple[str, ...] = ()  # other words residents use to name it ("bins", "gp")


def load_catalogue(path: Path = CATALOGUE_PATH) -> tuple[Theme, ...]:
    """Read the catalogue file; raises ValueError if it is malformed."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    themes = tuple(
        Theme(t["key"], t["label"], t["description"], tuple(t.get("words") or ()))
        for t in raw["themes"]
    )
    keys = [t.key for t in themes]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate theme keys in {path}")
    return themes


@lru_cache(maxsize=1)
def catalogue() -> tuple[Theme, ...]:
    """The project's themes, in catalogue order."""
    return load_catalogue()


def theme_keys() -> tuple[str, ...]:
    """Every theme key, in catalogue order."""
    return tuple(t.key for t in catalogue())


def is_theme(key: object) -> bool:
    """True if `key` is a theme key from the catalogue."""
    return isinstance(key, str) and key in theme_keys()


def label(key: str | None) -> str:
    """The human label of a theme key ("Something else" for no theme)."""
    for theme in catalogue():
        if theme.key == key:
            return theme.label
    return "Something else"
