"""Safeguarding: signposting first and alone, and an alert for officers instead of a view."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, channel_of, inbox_id_of, intent_of
from bot.services.safeguarding import KINDS, record_alert

SIGNPOSTS = {
    "danger_now": "utter_safeguard_danger_now",
    "self_harm": "utter_safeguard_self_harm",
    "abuse": "utter_safeguard_abuse",
    "crime_report": "utter_safeguard_crime_report",
}


class ActionSafeguard(EngageAction):
    """Answer with the kind's signposting and record the message as a safeguarding alert.

    It sets no slot: whatever the conversation was waiting for, it still waits for it.
    """

    def name(self) -> str:
        return "action_safeguard"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        kind = intent_of(tracker)
        if kind not in KINDS:
            return []
        found = tracker.latest_message.get("safeguarding") or {}
        text = tracker.latest_message.get("text") or ""
        channel = channel_of(tracker)
        await self.in_transaction(
            lambda s: record_alert(
                s,
                tracker.sender_id,
                kind=kind,
                text=text,
                channel=channel,
                confidence=found.get("confidence"),
                inbox_id=inbox_id_of(tracker),
            )
        )
        settings = self.settings
        dispatcher.utter_message(
            response=SIGNPOSTS[kind],
            emergency_number=settings.emergency_number,
            samaritans_number=settings.samaritans_number,
            nhs_mental_health=settings.nhs_mental_health,
            police_non_emergency=settings.police_non_emergency,
            police_report_url=settings.police_report_url,
            abuse_helpline=settings.abuse_helpline,
        )
        if settings.safeguarding_contact and kind != "crime_report":
            dispatcher.utter_message(
                response="utter_safeguarding_contact",
                safeguarding_contact=settings.safeguarding_contact,
            )
        return []
