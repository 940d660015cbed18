"""Helpers for action tests: an in-code Tracker, a dispatcher, the domain, a seeded database."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import PROJECT_ROOT
from tests.residents import add_resident

SENDER = "conv-test"


def make_tracker(
    *,
    slots: dict[str, Any] | None = None,
    intent: str = "share_view",
    text: str = "",
    entities: list[dict[str, Any]] | None = None,
    theme: tuple[str, float] | None = None,
    ranking: list[tuple[str, float]] | None = None,
    latest_action: str = "action_listen",
    sender: str = SENDER,
) -> Tracker:
    """A tracker whose latest message is `text` with the given NLU results."""
    message: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
    }
    if theme:
        message["theme"] = {"name": theme[0], "confidence": theme[1]}
    if ranking:
        message["theme_ranking"] = [{"name": k, "confidence": p} for k, p in ranking]
    base = {"stage": None, "consent": None, "opted_out": False, "pending_view_id": None}
    return Tracker(
        sender_id=sender,
        slots={**base, **(slots or {})},
        latest_message=message,
        events=[{"event": "user", "input_channel": "rest", "text": text}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=latest_action,
    )


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """The names of the responses the action asked for, in order."""
    return [m["response"] for m in dispatcher.messages]


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slots set by an action's events (last value wins)."""
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """domain.yml as the action server receives it."""
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def consented(database):
    """A resident who said yes to consent."""
    with database.transaction() as s:
        add_resident(s, "rest", SENDER)
    return SENDER


__all__ = ["SENDER", "SlotSet", "make_tracker", "responses", "slots"]
