"""STOP and START: opting out of every message, and back in."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, channel_of
from actions.dialogue import lead_back, with_slots
from bot.models import CheckinRhythm, ConsentAnswer
from bot.services.consent import opt_in_conversation, opt_out_conversation

# Back in, or still in: each said in the resident's own rhythm.
IN_THEIR_RHYTHM: dict[str, tuple[str, str]] = {
    CheckinRhythm.MONTHLY: ("utter_opted_in_monthly", "utter_still_subscribed_monthly"),
    CheckinRhythm.FORTNIGHTLY: ("utter_opted_in_fortnightly", "utter_still_subscribed_fortnightly"),
    CheckinRhythm.UPDATES_ONLY: (
        "utter_opted_in_updates_only",
        "utter_still_subscribed_updates_only",
    ),
}


class ActionOptOut(EngageAction):
    """Record the opt-out and confirm it once; later STOPs get no reply.

    The gateway has usually recorded the opt-out already (STOP must work with Rasa down):
    whether to confirm follows the conversation's own state, the `opted_out` slot.
    """

    def name(self) -> str:
        return "action_opt_out"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        channel = channel_of(tracker)
        stopped = await self.in_transaction(
            lambda s: opt_out_conversation(s, tracker.sender_id, channel=channel)
        )
        if stopped.changed or not tracker.get_slot("opted_out"):
            dispatcher.utter_message(response="utter_opted_out")
        return [SlotSet("opted_out", True), SlotSet("stage", None)]


class ActionOptIn(EngageAction):
    """Resume messages after an opt-out (START, UNSTOP, or YES while opted out)."""

    def name(self) -> str:
        return "action_opt_in"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        channel = channel_of(tracker)
        started = await self.in_transaction(
            lambda s: opt_in_conversation(s, tracker.sender_id, channel=channel)
        )
        # The gateway has usually recorded START already: the slot says if they were out.
        resumed = started.changed or bool(tracker.get_slot("opted_out"))
        events: list[EventType] = [SlotSet("opted_out", False)]
        if tracker.get_slot("consent") != ConsentAnswer.GIVEN:
            # They never agreed to us keeping their views: ask, as for anyone new.
            return events + lead_back(dispatcher, with_slots(tracker, opted_out=False))
        welcome, still = IN_THEIR_RHYTHM.get(started.rhythm, IN_THEIR_RHYTHM[CheckinRhythm.MONTHLY])
        dispatcher.utter_message(response=welcome if resumed else still)
        return events
