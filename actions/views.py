"""Residents' views: storing them by theme, choosing or correcting the theme, the area."""

from __future__ import annotations

from dataclasses import dataclass
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
from bot.corrections import Correction, read_correction
from bot.faults import is_fault_report
from bot.models import ConsentAnswer
from bot.postcodes import outward_code
from bot.services.residents import resident_state
from bot.services.views import correct_view_theme, keep_view, note_area
from bot.themes import is_theme, label

# Typed answers that mean the "Something else" button.
SOMETHING_ELSE = frozenset({"something else", "other", "none", "none of those", "neither"})
HELD_MAX = 5  # messages kept (in the tracker only) until a newcomer answers about consent


def last_response(tracker: Tracker) -> str | None:
    """The response the bot last sent before the resident's latest message."""
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            return (event.get("metadata") or {}).get("utter_action")
    return None


def held_message(tracker: Tracker) -> dict[str, Any]:
    """The latest message as a newcomer's view to keep until they answer about consent."""
    return {
        "text": tracker.latest_message.get("text") or "",
        "theme": list(latest_theme(tracker)),
        "themes": [list(t) for t in latest_themes(tracker)],
        "ranking": top_themes(theme_ranking(tracker)),
        "inbox_id": inbox_id_of(tracker),
    }


def is_correcting(tracker: Tracker, correction: Correction) -> bool:
    """Whether a message that reads as a new view corrects the theme of the one just given.

    After "noted under X" (or "Something else"), "actually its more community facilities"
    re-themes that view; while we ask which theme, a message naming one answers us.
    """
    if tracker.get_slot("pending_view_id") is None:
        return False
    if stage(tracker) == MORE:
        return correction.is_correction and bool(correction.theme or correction.ruled_out)
    return stage(tracker) == THEME and correction.theme is not None


class ViewKeeping(EngageAction):
    """Storing a view and saying where it was noted: for new views and held ones alike."""

    async def store(
        self,
        tracker: Tracker,
        text: str,
        guess: tuple[str | None, float],
        also: list[tuple[str, float]],
        inbox_id: int | None,
    ) -> StoredView | None:
        """Store a view under the NLU's theme when it is sure (None: not allowed)."""
        theme, confidence = guess
        sure = is_theme(theme) and confidence >= self.settings.theme_confidence_threshold
        # A view about two things is kept under both (only when the first is clear).
        also = also if sure else []
        channel = channel_of(tracker)
        kept = await self.in_transaction(
            lambda s: keep_view(
                s,
                tracker.sender_id,
                text=text,
                theme_key=theme if is_theme(theme) else None,
                confidence=confidence,
                channel=channel,
                inbox_id=inbox_id,
                also=also,
            )
        )
        if kept is None:
            return None
        return StoredView(kept.view_id, theme if sure else None, [k for k, _ in also])

    def acknowledge(
        self,
        dispatcher: CollectingDispatcher,
        stored: StoredView,
        text: str,
        ranking: list[str],
    ) -> list[EventType]:
        """Say where the view was noted, or ask which theme it is closest to."""
        events: list[EventType] = [SlotSet("pending_view_id", stored.view_id)]
        theme = stored.theme
        if theme is None:
            return events + ask_theme(dispatcher, ranking)
        report_url = self.settings.report_url(theme) if is_fault_report(text) else ""
        if stored.also:
            dispatcher.utter_message(
                response="utter_view_noted_two",
                theme_label=label(theme),
                second_label=label(stored.also[0]),
            )
        elif report_url:  # a view is not a service request: say where to report it
            dispatcher.utter_message(
                response="utter_view_noted_report", theme_label=label(theme), report_url=report_url
            )
        else:
            dispatcher.utter_message(response="utter_view_noted", theme_label=label(theme))
        return [*events, SlotSet("stage", MORE)]

    async def store_held(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, held: list[dict[str, Any]]
    ) -> list[EventType]:
        """Store what a newcomer said before consenting, and say where it was noted."""
        events: list[EventType] = [SlotSet("held_views", None)]
        stored = None
        for item in held:
            theme, confidence = item.get("theme") or (None, 0.0)
            also = [(k, float(p)) for k, p in (item.get("themes") or [])[1:] if is_theme(k)]
            text = str(item.get("text") or "")
            guess = (theme, float(confidence))
            stored = await self.store(tracker, text, guess, also, item.get("inbox_id")) or stored
        if stored is None:
            return events
        return events + self.acknowledge(
            dispatcher, stored, str(held[-1].get("text") or ""), list(held[-1].get("ranking") or [])
        )


class ActionStoreView(ViewKeeping):
    """Store the resident's view under the NLU's theme, or ask which theme if unsure."""

    def name(self) -> str:
        return "action_store_view"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        if text.startswith("/"):
            return lead_back(dispatcher, tracker)  # a typed "/share_view" is not a view
        if tracker.get_slot("consent") is None and not tracker.get_slot("opted_out"):
            # A newcomer's first words are kept (in the conversation, not stored) until
            # they answer about consent: stored with a yes, forgotten with a no.
            held = [*(tracker.get_slot("held_views") or []), held_message(tracker)]
            return [SlotSet("held_views", held[-HELD_MAX:]), *lead_back(dispatcher, tracker)]
        if tracker.get_slot("consent") != ConsentAnswer.GIVEN:
            return lead_back(dispatcher, tracker)
        correction = read_correction(text)
        if is_correcting(tracker, correction):
            return await self.correct_theme(dispatcher, tracker, correction)
        theme, confidence = latest_theme(tracker)
        also = [(key, p) for key, p in latest_themes(tracker)[1:] if key and is_theme(key)]
        stored = await self.store(tracker, text, (theme, confidence), also, inbox_id_of(tracker))
        if stored is None:
            # The database disagrees with the slots (e.g. opted out elsewhere): ask again.
            return lead_back(dispatcher, with_slots(tracker, consent=None))
        return self.acknowledge(dispatcher, stored, text, top_themes(theme_ranking(tracker)))

    async def correct_theme(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, correction: Correction
    ) -> list[EventType]:
        """File the pending view under the theme the resident chose or corrected it to."""
        return await ActionSetTheme(self._database, self._settings).run_with(
            dispatcher, tracker, correction
        )


@dataclass(frozen=True)
class StoredView:
    """A view just stored: its id, its theme when the NLU was sure, and any second theme."""

    view_id: int
    theme: str | None
    also: list[str]


def chosen_theme(tracker: Tracker, correction: Correction, threshold: float) -> str | None:
    """The theme the resident picked or named: a key, OTHER_THEME, or None if unclear.

    A button wins; then "something else"; then a theme named in order ("not X, it's Y"
    is Y); then the NLU's guess, unless they ruled it out.
    """
    for entity in tracker.latest_message.get("entities") or []:
        value = entity.get("value")
        if entity.get("entity") == "theme" and (is_theme(value) or value == OTHER_THEME):
            return value
    text = (tracker.latest_message.get("text") or "").strip().lower().rstrip(".!")
    if text in SOMETHING_ELSE:
        return OTHER_THEME
    if correction.theme is not None:
        return correction.theme
    theme, confidence = latest_theme(tracker)
    sure = is_theme(theme) and confidence >= threshold
    return theme if sure and theme not in correction.ruled_out else None


class ActionSetTheme(EngageAction):
    """File the resident's last view under the theme they chose or corrected it to."""

    def name(self) -> str:
        return "action_set_theme"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        correction = read_correction(tracker.latest_message.get("text") or "")
        return await self.run_with(dispatcher, tracker, correction)

    async def run_with(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, correction: Correction
    ) -> list[EventType]:
        """Re-theme the pending view as `correction` (and any button) says."""
        view_id = tracker.get_slot("pending_view_id")
        if view_id is None or stage(tracker) not in (THEME, MORE):
            return lead_back(dispatcher, tracker)
        choice = chosen_theme(tracker, correction, self.settings.theme_confidence_threshold)
        if choice is None:
            offered = list(tracker.get_slot("theme_choices") or []) or top_themes(
                theme_ranking(tracker), exclude=correction.ruled_out
            )
            return ask_theme(dispatcher, [k for k in offered if k not in correction.ruled_out])
        theme_key = None if choice == OTHER_THEME else choice
        more_text = tracker.latest_message.get("text") or "" if correction.keep_words else ""

        changed = await self.in_transaction(
            lambda s: correct_view_theme(
                s, tracker.sender_id, int(view_id), theme_key, more_text=more_text
            )
        )
        if changed is None:
            return lead_back(dispatcher, tracker)
        if theme_key is None:
            dispatcher.utter_message(response="utter_theme_other")
        elif stage(tracker) == THEME or changed.before in (None, theme_key):
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
        if stage(tracker) != AREA and tracker.get_slot("pending_view_id") is not None:
            state = await self.in_transaction(lambda s: resident_state(s, tracker.sender_id))
            if state.area is None:
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
        if tracker.get_slot("consent") != ConsentAnswer.GIVEN:
            return lead_back(dispatcher, tracker)
        area = outward_code(tracker.latest_message.get("text") or "")
        if area is None and stage(tracker) != AREA:
            dispatcher.utter_message(response="utter_did_not_understand")
            return lead_back(dispatcher, tracker)
        if area is None and last_response(tracker) == "utter_area_invalid":
            dispatcher.utter_message(response="utter_thanks_bye")  # asked twice: skip it
            return [SlotSet("stage", None), SlotSet("pending_view_id", None)]
        if area is None:
            dispatcher.utter_message(response="utter_area_invalid")
            return []
        if await self.in_transaction(lambda s: note_area(s, tracker.sender_id, area)) is None:
            return lead_back(dispatcher, tracker)
        if stage(tracker) == AREA:
            dispatcher.utter_message(response="utter_area_noted_bye", area=area)
            return [SlotSet("stage", None), SlotSet("pending_view_id", None)]
        dispatcher.utter_message(response="utter_area_noted", area=area)
        return lead_back(dispatcher, tracker)
