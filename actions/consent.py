"""The resident's answer to the consent question."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import channel_of, intent_of
from actions.dialogue import VIEW
from actions.views import ViewKeeping
from bot.erasure import do_not_contact_key
from bot.services.consent import answer_consent

CONSENT_RESPONSES = ("utter_intro", "utter_ask_consent")


def consent_wording(domain: dict[str, Any], values: dict[str, str]) -> str:
    """The consent wording exactly as the resident was shown it."""
    responses = domain.get("responses", {})
    texts = [responses[name][0]["text"] for name in CONSENT_RESPONSES]
    return "\n".join(text.format(**values) for text in texts)


class ActionRecordConsent(ViewKeeping):
    """Record YES or NO to the consent question, with the wording shown."""

    def name(self) -> str:
        return "action_record_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        given = intent_of(tracker) == "affirm"
        wording = consent_wording(
            domain,
            {"org_name": self.settings.org_name, "privacy_url": self.settings.privacy_url},
        )
        channel = channel_of(tracker)
        recorded = await self.in_transaction(
            lambda s: answer_consent(
                s,
                tracker.sender_id,
                given=given,
                wording=wording,
                channel=channel,
                # A yes after an erasure: off the do-not-contact list, kept under this key.
                do_not_contact_key=do_not_contact_key(self.settings) if given else None,
            )
        )
        held = list(tracker.get_slot("held_views") or [])
        events: list[EventType] = [SlotSet("consent", recorded.consent)]
        if given and held:  # what they said before we asked: kept now, not asked again
            return events + await self.store_held(dispatcher, tracker, held)
        if given:
            dispatcher.utter_message(response="utter_consent_given")
            return [*events, SlotSet("stage", VIEW)]
        dispatcher.utter_message(response="utter_consent_declined")
        return [*events, SlotSet("stage", None), SlotSet("held_views", None)]
