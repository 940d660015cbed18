"""How often the resident hears from us: monthly, fortnightly, updates only, pause, resume."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, intent_of
from actions.dialogue import lead_back
from bot.models import utcnow
from bot.services.preferences import DEFAULT_PAUSE, less_often, pause, resume, set_rhythm
from bot.services.residents import find_resident

RHYTHM_INTENTS = {
    "rhythm_monthly": "monthly",
    "rhythm_fortnightly": "fortnightly",
    "rhythm_updates_only": "updates_only",
}
CONFIRMATIONS = {
    "monthly": "utter_rhythm_monthly",
    "fortnightly": "utter_rhythm_fortnightly",
    "updates_only": "utter_rhythm_updates_only",
}
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "couple": 2, "few": 3}
_DURATION = re.compile(
    r"\b(\d{1,2}|a|one|two|three|four|six|couple|few)\s*(?:of\s+)?(week|month)s?\b"
)


def pause_length(text: str) -> timedelta:
    """'pause for 3 months' -> 90 days; 'a couple of weeks' -> 14 days; else about 3 months."""
    match = _DURATION.search(text.lower())
    if not match:
        return DEFAULT_PAUSE
    count = int(match.group(1)) if match.group(1).isdigit() else _NUMBERS[match.group(1)]
    unit = timedelta(weeks=1) if match.group(2) == "week" else timedelta(days=30)
    return min(max(count, 1) * unit, timedelta(days=366))


class ActionSetRhythm(EngageAction):
    """Change the check-in rhythm, pause or resume, and confirm in one line."""

    def name(self) -> str:
        return "action_set_rhythm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = intent_of(tracker)
        text = tracker.latest_message.get("text") or ""

        def _change(session) -> tuple[str, dict[str, str]] | None:  # type: ignore[no-untyped-def]
            resident = find_resident(session, tracker.sender_id)
            if resident is None or resident.consent != "given":
                return None
            if intent in RHYTHM_INTENTS:
                set_rhythm(session, resident, RHYTHM_INTENTS[intent])
                return CONFIRMATIONS[resident.rhythm], {}
            if intent == "rhythm_less_often":
                return CONFIRMATIONS[less_often(session, resident)], {}
            if intent == "pause_checkins":
                until = utcnow() + pause_length(text)
                pause(session, resident, until)
                return "utter_paused", {"until": f"{until.day} {until:%b %Y}"}
            return ("utter_resumed" if resume(session, resident) else "utter_not_paused"), {}

        outcome = await self.in_transaction(_change)
        if outcome is None:
            return lead_back(dispatcher, tracker)
        response, values = outcome
        dispatcher.utter_message(response=response, **values)
        return []
