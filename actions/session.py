"""Session start: what we know of the resident, from the database, into the slots."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction
from bot.services.residents import resident_state

CARRIED_OVER = ("stage", "pending_view_id", "theme_choices", "held_views")


class ActionSessionStart(EngageAction):
    """Start a session with the resident's consent and opt-out state from the database."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        state = await self.in_transaction(lambda s: resident_state(s, tracker.sender_id))
        events: list[EventType] = [SessionStarted()]
        events += [
            SlotSet(name, tracker.get_slot(name))
            for name in CARRIED_OVER
            if tracker.get_slot(name) is not None
        ]
        events += [
            SlotSet("consent", state.consent),
            SlotSet("opted_out", state.opted_out),
            SlotSet("org_name", self.settings.org_name),
            SlotSet("privacy_url", self.settings.privacy_url),
            ActionExecuted("action_listen"),
        ]
        return events
