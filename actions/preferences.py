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
from bot.models import CheckinRhythm
from bot.services.preferences import DEFAULT_PAUSE, LESS_OFTEN, PAUSE, RESUME, change_rhythm

# The change each intent asks for (any other: resume).
CHANGES = {
    "rhythm_monthly": CheckinRhythm.MONTHLY,
    "rhythm_fortnightly": CheckinRhythm.FORTNIGHTLY,
    "rhythm_updates_only": CheckinRhythm.UPDATES_ONLY,
    "rhythm_less_often": LESS_OFTEN,
    "pause_checkins": PAUSE,
}
CONFIRMATIONS: dict[str, str] = {
    CheckinRhythm.MONTHLY: "utter_rhythm_monthly",
    CheckinRhythm.FORTNIGHTLY: "utter_rhythm_fortnightly",
    CheckinRhythm.UPDATES_ONLY: "utter_rhythm_updates_only",
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
        change = CHANGES.get(intent_of(tracker) or "", RESUME)
        length = pause_length(tracker.latest_message.get("text") or "")
        changed = await self.in_transaction(
            lambda s: change_rhythm(s, tracker.sender_id, change, pause_for=length)
        )
        if changed is None:
            return lead_back(dispatcher, tracker)
        if changed.paused_until is not None:  # paused now: every other change ends a pause
            until = changed.paused_until
            dispatcher.utter_message(response="utter_paused", until=f"{until.day} {until:%b %Y}")
        elif change == RESUME:
            dispatcher.utter_message(
                response="utter_resumed" if changed.resumed else "utter_not_paused"
            )
        else:
            dispatcher.utter_message(response=CONFIRMATIONS[changed.rhythm])
        return []
