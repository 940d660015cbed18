"""Residents' views: storing them by theme, choosing or correcting the theme, the area."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import (
    EngageAction,
    channel_of,
    inbox_id_of,
    latest_theme,
    latest_themes,
    theme_ranking,
)
from actions.dialogue import (
    AREA,
    MORE,
    OTHER_THEME,
    THEME,
    VIEW,
    ask_theme,
    lead_back,
    stage,
    top_themes,
    with_slots,
)
from bot.faults import is_fault_report
from bot.postcodes import outward_code
from bot.services.residents import find_resident
from bot.services.views import NotAllowed, set_area, set_view_theme, store_view
from bot.themes import is_theme, label

# Typed answers that mean the "Something else" button.
SOMETHING_ELSE = frozenset({"something else", "other", "none", "none of those", "neither"})


class ActionStoreView(EngageAction):
    """Store the resident's view under the NLU's theme, or ask which theme if unsure."""

    def name(self) -> str:
        return "action_store_view"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if tracker.get_slot("consent") != "given" or text.startswith("/"):
            return lead_back(dispatcher, tracker)  # a typed "/share_view" is not a view
        theme, confidence = latest_theme(tracker)
        sure = is_theme(theme) and confidence >= self.settings.theme_confidence_threshold
        # A view about two things is kept under both (only when the first is clear).
        also = [(key, p) for key, p in latest_themes(tracker)[1:] if is_theme(key)] if sure else []
        channel = channel_of(tracker)

        def _store(session) -> int | None:  # type: ignore[no-untyped-def]
            resident = find_resident(session, tracker.sender_id)
            if resident is None:
                return None
            view = store_view(
                session,
                resident,
                text=text,
                theme_key=theme if is_theme(theme) else None,
                confidence=confidence,
                channel=channel,
                inbox_id=inbox_id_of(tracker),
                also=also,
            )
            return view.id

        try:
            view_id = await self.in_transaction(_store)
        except NotAllowed:
            view_id = None
        if view_id is None:
            # The database disagrees with the slots (e.g. opted out elsewhere): ask again.
            return lead_back(dispatcher, with_slots(tracker, consent=None))
        events: list[EventType] = [SlotSet("pending_view_id", view_id)]
        if sure:
            report_url = self.settings.report_url(theme) if is_fault_report(text) else ""
            if also:
                dispatcher.utter_message(
                    response="utter_view_noted_two",
                    theme_label=label(theme),
                    second_label=label(also[0][0]),
                )
            elif report_url:  # a view is not a service request: say where to report it
                dispatcher.utter_message(
                    response="utter_view_noted_report",
                    theme_label=label(theme),
                    report_url=report_url,
                )
            else:
                dispatcher.utter_message(response="utter_view_noted", theme_label=label(theme))
            return [*events, SlotSet("stage", MORE)]
        return events + ask_theme(dispatcher, top_themes(theme_ranking(tracker)))


def chosen_theme(tracker: Tracker, threshold: float) -> str | None:
    """The theme the resident picked or named: a key, OTHER_THEME, or None if unclear."""
    for entity in tracker.latest_message.get("entities") or []:
        value = entity.get("value")
        if entity.get("entity") == "theme" and (is_theme(value) or value == OTHER_THEME):
            return value
    text = (tracker.latest_message.get("text") or "").strip().lower().rstrip(".!")
    if text in SOMETHING_ELSE:
        return OTHER_THEME
    theme, confidence = latest_theme(tracker)
    return theme if is_theme(theme) and confidence >= threshold else None


class ActionSetTheme(EngageAction):
    """File the resident's last view under the theme they chose or corrected it to."""

    def name(self) -> str:
        return "action_set_theme"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        view_id = tracker.get_slot("pending_view_id")
        choice = chosen_theme(tracker, self.settings.theme_confidence_threshold)
        if view_id is None or stage(tracker) not in (THEME, MORE):
            return lead_back(dispatcher, tracker)
        if choice is None:
            choices = list(tracker.get_slot("theme_choices") or []) or top_themes(
                theme_ranking(tracker)
            )
            return ask_theme(dispatcher, choices)
        theme_key = None if choice == OTHER_THEME else choice

        def _set(session) -> bool:  # type: ignore[no-untyped-def]
            resident = find_resident(session, tracker.sender_id)
            return bool(resident and set_view_theme(session, resident, int(view_id), theme_key))

        if not await self.in_transaction(_set):
            return lead_back(dispatcher, tracker)
        if theme_key is None:
            dispatcher.utter_message(response="utter_theme_other")
        elif stage(tracker) == THEME:
            dispatcher.utter_message(response="utter_theme_chosen", theme_label=label(theme_key))
        else:
            dispatcher.utter_message(response="utter_theme_corrected", theme_label=label(theme_key))
        return [SlotSet("stage", MORE), SlotSet("theme_choices", None)]


class ActionAskView(EngageAction):
    """Ask for (another) view."""

    def name(self) -> str:
        return "action_ask_view"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_another_view")
        return [SlotSet("stage", VIEW)]


class ActionFinishViews(EngageAction):
    """The resident has no more to add: ask their area once if unknown, then close."""

    def name(self) -> str:
        return "action_finish_views"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        def _area(session) -> str | None:  # type: ignore[no-untyped-def]
            resident = find_resident(session, tracker.sender_id)
            return resident.area if resident else None

        has_views = tracker.get_slot("pending_view_id") is not None
        if stage(tracker) != AREA and has_views and await self.in_transaction(_area) is None:
            dispatcher.utter_message(response="utter_ask_area")
            return [SlotSet("stage", AREA)]
        dispatcher.utter_message(response="utter_thanks_bye")
        return [SlotSet("stage", None), SlotSet("pending_view_id", None)]


class ActionStoreArea(EngageAction):
    """Keep the resident's postcode district (never a full postcode)."""

    def name(self) -> str:
        return "action_store_area"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.get_slot("consent") != "given":
            return lead_back(dispatcher, tracker)
        candidates = [
            str(e.get("value"))
            for e in tracker.latest_message.get("entities") or []
            if e.get("entity") == "postcode"
        ]
        candidates.append(tracker.latest_message.get("text") or "")
        area = next((code for text in candidates if (code := outward_code(text))), None)
        if area is None and stage(tracker) != AREA:
            dispatcher.utter_message(response="utter_did_not_understand")
            return lead_back(dispatcher, tracker)
        if area is None:
            dispatcher.utter_message(response="utter_area_invalid")
            return []

        def _set(session) -> bool:  # type: ignore[no-untyped-def]
            resident = find_resident(session, tracker.sender_id)
            if resident is None:
                return False
            set_area(session, resident, area)
            return True

        if not await self.in_transaction(_set):
            return lead_back(dispatcher, tracker)
        if stage(tracker) == AREA:
            dispatcher.utter_message(response="utter_area_noted_bye", area=area)
            return [SlotSet("stage", None), SlotSet("pending_view_id", None)]
        dispatcher.utter_message(response="utter_area_noted", area=area)
        return lead_back(dispatcher, tracker)
