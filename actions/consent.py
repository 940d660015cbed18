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
from bot.services.consent import record_consent
from bot.services.residents import get_or_create_resident
from bot.services.rights import unblock

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

        def _record(session) -> None:  # type: ignore[no-untyped-def]
            resident = get_or_create_resident(session, tracker.sender_id, channel)
            record_consent(session, resident, given=given, wording=wording, channel=channel)
            if given:  # consented again after an erasure: off the do-not-contact list
                unblock(session, resident, do_not_contact_key(self.settings))

        await self.in_transaction(_record)
        held = list(tracker.get_slot("held_views") or [])
        if given and held:  # what they said before we asked: kept now, not asked again
            return [SlotSet("consent", "given"), *await self.store_held(dispatcher, tracker, held)]
        if given:
            dispatcher.utter_message(response="utter_consent_given")
            return [SlotSet("consent", "given"), SlotSet("stage", VIEW)]
        dispatcher.utter_message(response="utter_consent_declined")
        return [SlotSet("consent", "refused"), SlotSet("stage", None), SlotSet("held_views", None)]
