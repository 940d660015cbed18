"""What every action of ours shares: the database and settings, handed in or made lazily."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Action, Tracker
from sqlalchemy.orm import Session

from bot.db import Database, default_database, run_in_transaction
from bot.settings import Settings, get_settings

T = TypeVar("T")


class EngageAction(Action, metaclass=ABCMeta):
    """An action that reaches `bot/` services through an injectable database and settings."""

    def __init__(self, database: Database | None = None, settings: Settings | None = None):
        self._database = database
        self._settings = settings

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @property
    def settings(self) -> Settings:
        """Settings handed in, or the process's."""
        return self._settings or get_settings()

    @property
    def database(self) -> Database:
        """Database handed in, or the process's."""
        return self._database or default_database()

    async def in_transaction(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in one transaction, off the event loop."""
        return await run_in_transaction(self.database, work)


def channel_of(tracker: Tracker) -> str:
    """The channel the resident's latest message came through."""
    return tracker.get_latest_input_channel() or "unknown"


def inbox_id_of(tracker: Tracker) -> int | None:
    """The inbox message behind the latest message: storing it twice keeps one copy."""
    value = (tracker.latest_message.get("metadata") or {}).get("inbox_id")
    return value if isinstance(value, int) else None


def intent_of(tracker: Tracker) -> str | None:
    """The intent of the latest message, as the dialogue policies saw it."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_theme(tracker: Tracker) -> tuple[str | None, float]:
    """The NLU theme of the latest message and its confidence."""
    theme: dict[str, Any] = tracker.latest_message.get("theme") or {}
    return theme.get("name"), float(theme.get("confidence") or 0.0)


def latest_themes(tracker: Tracker) -> list[tuple[str | None, float]]:
    """Every theme the NLU found in the latest message (a view about two things), first first."""
    found = tracker.latest_message.get("themes") or []
    if not found:
        return [latest_theme(tracker)]
    return [(t.get("name"), float(t.get("confidence") or 0.0)) for t in found]


def theme_ranking(tracker: Tracker) -> list[dict[str, Any]]:
    """The NLU's themes for the latest message, most likely first."""
    return list(tracker.latest_message.get("theme_ranking") or [])
