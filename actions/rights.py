"""Residents' rights in the conversation: forget me, and forget what I just said.

Each is asked once; the answer comes back as a button payload, a typed yes/no or, on
SMS, the option's number. Erasure itself happens after the confirming reply has been sent
(`bot.erasure.Eraser.erase_if_asked`, run by the inbox worker), so that reply is the last
message the resident gets from us.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, intent_of
from bot.services.rights import forget_last_view, latest_view_text, request_erasure

SNIPPET_CHARS = 60
CONFIRM_ERASE, CONFIRM_FORGET = "confirm_erase", "confirm_forget_last"
YES = "affirm"


def snippet(text: str) -> str:
    """The start of a view, short enough to quote in an SMS."""
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 3].rstrip() + "..."


class ActionAskErase(EngageAction):
    """Ask once before erasing everything."""

    def name(self) -> str:
        return "action_ask_erase"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_erase")
        return [SlotSet("stage", "erase")]


class ActionErase(EngageAction):
    """Yes: mark the resident to be erased once this reply has gone; no: keep everything."""

    def name(self) -> str:
        return "action_erase"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if intent_of(tracker) not in (YES, CONFIRM_ERASE):
            dispatcher.utter_message(response="utter_erase_kept")
            return [SlotSet("stage", None)]
        await self.in_transaction(lambda s: request_erasure(s, tracker.sender_id))
        dispatcher.utter_message(response="utter_erased")
        return [SlotSet("stage", None)]


class ActionAskForgetLast(EngageAction):
    """Quote the resident's latest view and ask once before deleting it."""

    def name(self) -> str:
        return "action_ask_forget_last"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = await self.in_transaction(lambda s: latest_view_text(s, tracker.sender_id))
        if text is None:
            dispatcher.utter_message(response="utter_nothing_to_forget")
            return [SlotSet("stage", None)]
        dispatcher.utter_message(response="utter_ask_forget_last", snippet=snippet(text))
        return [SlotSet("stage", "forget_last")]


class ActionForgetLast(EngageAction):
    """Yes: delete the latest view; no: keep it."""

    def name(self) -> str:
        return "action_forget_last"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if intent_of(tracker) not in (YES, CONFIRM_FORGET):
            dispatcher.utter_message(response="utter_erase_kept")
            return [SlotSet("stage", None)]
        forgotten = await self.in_transaction(
            lambda s: forget_last_view(s, tracker.sender_id) is not None
        )
        dispatcher.utter_message(
            response="utter_forgot_last" if forgotten else "utter_nothing_to_forget"
        )
        return [SlotSet("stage", None)]
