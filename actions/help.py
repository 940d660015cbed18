"""HELP and "how often will you text me?": answered for this resident, as things are now."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, intent_of
from actions.dialogue import introduce
from bot.models import CheckinRhythm
from bot.services.preferences import rhythm_of

# The answer, by what they asked and their rhythm now ("paused" while a pause lasts).
ANSWERS: dict[str, dict[str, str]] = {
    "help": {
        CheckinRhythm.MONTHLY: "utter_help_monthly",
        CheckinRhythm.FORTNIGHTLY: "utter_help_fortnightly",
        CheckinRhythm.UPDATES_ONLY: "utter_help_updates_only",
        "paused": "utter_help_paused",
    },
    "ask_rhythm": {
        CheckinRhythm.MONTHLY: "utter_rhythm_now_monthly",
        CheckinRhythm.FORTNIGHTLY: "utter_rhythm_now_fortnightly",
        CheckinRhythm.UPDATES_ONLY: "utter_rhythm_now_updates_only",
        "paused": "utter_rhythm_now_paused",
    },
}


class ActionHelp(EngageAction):
    """Help that knows the resident: their rhythm, how to change it, see their data, stop."""

    def name(self) -> str:
        return "action_help"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        asked_rhythm = intent_of(tracker) == "ask_rhythm"
        if tracker.get_slot("consent") is None and not tracker.get_slot("opted_out"):
            if asked_rhythm:  # the consent question that follows says the rest
                dispatcher.utter_message(response="utter_rhythm_offer")
                return []
            return introduce(dispatcher)  # who we are, what we do, and the question
        now = await self.in_transaction(lambda s: rhythm_of(s, tracker.sender_id))
        if now is None:
            dispatcher.utter_message(response="utter_help")
            return []
        answers = ANSWERS["ask_rhythm" if asked_rhythm else "help"]
        if now.paused_until is not None:
            until = now.paused_until
            dispatcher.utter_message(response=answers["paused"], until=f"{until.day} {until:%b %Y}")
        else:
            dispatcher.utter_message(
                response=answers.get(now.rhythm, answers[CheckinRhythm.MONTHLY])
            )
        return []
