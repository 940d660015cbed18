"""Replies to a "you said, we did" update: recognised from the database, stored against it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, channel_of, inbox_id_of, intent_of, latest_theme
from actions.dialogue import UPDATE_REPLY, UPDATE_WHY, lead_back, stage
from bot.services.reactions import (
    UPDATE_CONTEXT_ACTION,
    react_to_update,
    update_awaiting_reply,
)
from bot.themes import is_theme, label
from bot.update_replies import COMMENT, HELPED, NOT_HELPED, has_words, reply_kind

# Intents our own processes send (never typed): they are not replies.
TRIGGERED = {"start_checkin", "checkins_paused"}
# After "what would have helped?", a bare "no", "ok" or "thanks" has nothing to add.
CLOSING = {"deny", "affirm", "thank", "done"}


def last_activity(tracker: Tracker) -> datetime | None:
    """When anything was last said in this conversation before the latest message."""
    said = [e for e in tracker.events if e.get("event") in ("user", "bot")]
    previous = said[:-1] if said and said[-1].get("event") == "user" else said
    if not previous or previous[-1].get("timestamp") is None:
        return None
    return datetime.fromtimestamp(float(previous[-1]["timestamp"]), tz=timezone.utc)


class ActionUpdateContext(EngageAction):
    """Slot mapping run on every message: is this a reply to an update we just sent?

    Updates are sent by the notifier, not through Rasa, so the conversation itself does
    not know; the database does.
    """

    def name(self) -> str:
        return UPDATE_CONTEXT_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if intent_of(tracker) in TRIGGERED or tracker.get_slot("opted_out"):
            return []
        previous = last_activity(tracker)
        now = datetime.now(timezone.utc)
        outbox_id = await self.in_transaction(
            lambda s: update_awaiting_reply(s, tracker.sender_id, previous, now)
        )
        if outbox_id is None:
            return []
        return [SlotSet("stage", UPDATE_REPLY), SlotSet("update_outbox_id", outbox_id)]


class ActionReactToUpdate(EngageAction):
    """Store "it helped", "it did not" or a comment against the update, and answer briefly."""

    def name(self) -> str:
        return "action_react_to_update"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        outbox_id, current = tracker.get_slot("update_outbox_id"), stage(tracker)
        if outbox_id is None or current not in (UPDATE_REPLY, UPDATE_WHY):
            return lead_back(dispatcher, tracker)
        text = tracker.latest_message.get("text") or ""
        if current == UPDATE_WHY and not has_words(text) and intent_of(tracker) in CLOSING:
            return close_update_reply(dispatcher)
        theme, confidence = latest_theme(tracker)
        theme = theme if is_theme(theme) else None
        channel = channel_of(tracker)
        # An answer to "Did this help?" is read from how it starts; what they say after
        # "it did not" is more of the same reaction.
        kind = reply_kind(text, intent_of(tracker)) if current == UPDATE_REPLY else COMMENT
        reacted = await self.in_transaction(
            lambda s: react_to_update(
                s,
                tracker.sender_id,
                int(outbox_id),
                kind=kind,
                text=text,
                channel=channel,
                follow_up=current == UPDATE_WHY,
                theme_key=theme,
                confidence=confidence,
                inbox_id=inbox_id_of(tracker),
            )
        )
        if reacted is None:
            return [SlotSet("stage", None), *lead_back(dispatcher, tracker)]
        if kind == NOT_HELPED:
            # What they say next is more of their reaction to the update.
            dispatcher.utter_message(response="utter_update_not_helped")
            return [SlotSet("stage", UPDATE_WHY)]
        if kind == HELPED:
            dispatcher.utter_message(response="utter_update_helped")
        elif theme is None:
            return close_update_reply(dispatcher)
        else:
            dispatcher.utter_message(
                response="utter_update_comment_noted", theme_label=label(theme)
            )
        return [SlotSet("stage", None), SlotSet("update_outbox_id", None)]


class ActionEndUpdateReply(EngageAction):
    """Nothing more to say about the update ("no", "done"): thank them and close."""

    def name(self) -> str:
        return "action_end_update_reply"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return close_update_reply(dispatcher)


def close_update_reply(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Thank the resident and close the exchange about the update."""
    dispatcher.utter_message(response="utter_update_reply_closed")
    return [SlotSet("stage", None), SlotSet("update_outbox_id", None)]
