"""Slot names, stages and the "lead back" prompt that every off-script turn ends with."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.models import ConsentAnswer
from bot.themes import catalogue, is_theme, label

# Stages of the conversation (the `stage` slot): what the bot last asked.
CONSENT, VIEW, THEME, MORE, AREA = "consent", "view", "theme", "more", "area"
CHECKIN_OPEN, CHECKIN_SCALE, CHECKIN_WHY = "checkin_open", "checkin_scale", "checkin_why"
UPDATE_REPLY, UPDATE_WHY = "update_reply", "update_why"  # after a "you said, we did" update
OTHER_THEME = "other"  # the "Something else" choice


def with_slots(tracker: Tracker, **slots: Any) -> Tracker:
    """A copy of `tracker` with some slots changed (to lead back from a corrected state)."""
    copy = tracker.copy()
    copy.slots.update(slots)
    return copy


def stage(tracker: Tracker) -> str | None:
    """What the bot last asked the resident."""
    return tracker.get_slot("stage")


def introduce(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Say who we are and ask for consent."""
    dispatcher.utter_message(response="utter_intro")
    dispatcher.utter_message(response="utter_ask_consent")
    return [SlotSet("stage", CONSENT)]


def theme_buttons(keys: list[str]) -> list[dict[str, str]]:
    """Buttons for a choice of themes, plus "Something else"."""
    buttons = [
        {"title": label(key), "payload": f'/set_theme{{"theme":"{key}"}}'}
        for key in keys
        if is_theme(key)
    ]
    buttons.append({"title": label(None), "payload": f'/set_theme{{"theme":"{OTHER_THEME}"}}'})
    return buttons


def top_themes(
    ranking: list[dict[str, Any]], n: int = 3, exclude: Collection[str] = ()
) -> list[str]:
    """The `n` most likely theme keys from an NLU theme ranking (catalogue order if none)."""
    keys: list[str] = [item["name"] for item in ranking if is_theme(item.get("name"))]
    keys = keys or [theme.key for theme in catalogue()]
    return [key for key in keys if key not in exclude][:n]


def ask_theme(dispatcher: CollectingDispatcher, keys: list[str]) -> list[EventType]:
    """Ask which theme a view is closest to."""
    dispatcher.utter_message(response="utter_ask_theme", buttons=theme_buttons(keys))
    return [SlotSet("theme_choices", keys), SlotSet("stage", THEME)]


def lead_back(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Re-ask whatever the conversation is waiting for, so no turn is a dead end."""
    if tracker.get_slot("opted_out"):
        return []
    consent = tracker.get_slot("consent")
    current = stage(tracker)
    if consent is None and current != CONSENT:
        return introduce(dispatcher)
    if consent == ConsentAnswer.REFUSED or current == CONSENT:
        refused = consent == ConsentAnswer.REFUSED
        response = "utter_consent_reminder" if refused else "utter_ask_consent"
        dispatcher.utter_message(response=response)
        return [SlotSet("stage", CONSENT)]
    if current == THEME:
        return ask_theme(dispatcher, list(tracker.get_slot("theme_choices") or []))
    if current == MORE:
        dispatcher.utter_message(response="utter_ask_more")
        return []
    if current == AREA:
        dispatcher.utter_message(response="utter_ask_area")
        return []
    if current in (CHECKIN_OPEN, CHECKIN_WHY):
        dispatcher.utter_message(response="utter_checkin_reask")
        return []
    if current == CHECKIN_SCALE:
        dispatcher.utter_message(response="utter_checkin_rate_reask")
        return []
    if current in (UPDATE_REPLY, UPDATE_WHY):
        response = "utter_update_reask" if current == UPDATE_REPLY else "utter_update_why_reask"
        dispatcher.utter_message(response=response)
        return []
    dispatcher.utter_message(response="utter_ask_view")
    return [SlotSet("stage", VIEW)]
