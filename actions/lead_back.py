"""The core fallback: anything off-script gets a short, state-aware way back.

It follows an answer in the same turn, so it never repeats what that answer said and
keeps the whole reply to two SMS: a newcomer who asked who we are is asked for consent,
not introduced again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction
from actions.dialogue import CONSENT, lead_back
from bot.sms import sms_count

MAX_SMS_PER_TURN = 2  # a resident's message gets at most two SMS of reply


def said_this_turn(tracker: Tracker) -> list[dict[str, Any]]:
    """The bot messages already sent in reply to the resident's latest message."""
    said: list[dict[str, Any]] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            said.append(event)
    return said[::-1]


def sms_used(messages: list[dict[str, Any]]) -> int:
    """SMS taken by messages (bot events, or a dispatcher's rendered messages)."""
    return sum(
        sms_count(
            m.get("text") or "", (m.get("data") or {}).get("buttons") or m.get("buttons") or []
        )
        for m in messages
    )


def rendered_message(
    responses: dict[str, Any], message: dict[str, Any], slots: dict[str, Any]
) -> dict[str, Any]:
    """A dispatched response with its text, about as the resident will read it."""
    template = dict((responses.get(message.get("response") or "") or [{}])[0])
    values = defaultdict(str, {k: str(v) for k, v in slots.items() if v is not None})
    values.update({k: str(v) for k, v in message.items() if isinstance(v, str | int)})
    template["text"] = str(template.get("text") or "").format_map(values)
    return {**template, **{k: v for k, v in message.items() if v}}


class ActionLeadBack(EngageAction):
    """Re-ask what the conversation is waiting for (introduce us to a stranger)."""

    def name(self) -> str:
        return "action_lead_back"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.latest_action_name == self.name():
            return []  # never repeat ourselves, whatever the policies predict
        said = said_this_turn(tracker)
        responses = domain.get("responses", {})
        if said and tracker.get_slot("consent") is None and not tracker.get_slot("opted_out"):
            # A newcomer just had an answer: the question is all that is left to say.
            if any(
                (e.get("metadata") or {}).get("utter_action") == "utter_ask_consent" for e in said
            ):
                return []
            dispatcher.utter_message(response="utter_ask_consent")
            return [SlotSet("stage", CONSENT)]
        scratch = CollectingDispatcher()
        events = lead_back(scratch, tracker)
        already = {(e.get("metadata") or {}).get("utter_action") for e in said}
        wanted = [m for m in scratch.messages if m.get("response") not in already]
        rendered = [rendered_message(responses, m, tracker.slots) for m in wanted]
        if said and (
            len(wanted) < len(scratch.messages)
            or sms_used(said) + sms_used(rendered) > MAX_SMS_PER_TURN
        ):
            return []  # the answer stands alone rather than a third SMS or a repeat
        dispatcher.messages.extend(wanted)
        return events
