"""The core fallback: anything off-script gets a short, state-aware way back."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction
from actions.dialogue import lead_back


class ActionLeadBack(EngageAction):
    """Re-ask what the conversation is waiting for (introduce us to a stranger)."""

    def name(self) -> str:
        return "action_lead_back"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.latest_action_name == self.name():
            return []  # never repeat ourselves, whatever the policies predict
        return lead_back(dispatcher, tracker)
