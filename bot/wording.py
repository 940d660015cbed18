"""Bot wording for messages sent outside a Rasa turn (the notifier), read from domain.yml."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from bot.settings import PROJECT_ROOT


@lru_cache(maxsize=1)
def _responses() -> dict[str, Any]:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return domain["responses"]


def render(response: str, **values: Any) -> str:
    """The first text variant of a domain response, with its placeholders filled."""
    return _responses()[response][0]["text"].format(**values)
