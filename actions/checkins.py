"""Check-ins started by the scheduler: the question, its answer, a rating and its why."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction, channel_of, inbox_id_of, latest_theme
from actions.dialogue import CHECKIN_OPEN, CHECKIN_SCALE, CHECKIN_WHY, lead_back, stage
from bot.models import QuestionKind
from bot.services.checkins import CheckinAnswered, give_checkin_answer, question_to_ask
from bot.themes import is_theme, label

SCALE = range(1, 6)


def entity(tracker: Tracker, name: str) -> str | None:
    """The first value of an entity in the latest message."""
    for item in tracker.latest_message.get("entities") or []:
        if item.get("entity") == name:
            return str(item.get("value"))
    return None


def scale_buttons() -> list[dict[str, str]]:
    """Buttons 1 to 5 (numbered options on SMS)."""
    return [{"title": str(n), "payload": f'/rate{{"rating":"{n}"}}'} for n in SCALE]


async def keep_answer(
    action: EngageAction,
    tracker: Tracker,
    checkin_id: int,
    *,
    text: str,
    theme_key: str | None,
    confidence: float | None,
    rating: int | None = None,
) -> CheckinAnswered | None:
    """Keep the latest message as the answer to the resident's check-in (`give_checkin_answer`)."""
    channel = channel_of(tracker)
    return await action.in_transaction(
        lambda s: give_checkin_answer(
            s,
            tracker.sender_id,
            checkin_id,
            text=text,
            theme_key=theme_key,
            confidence=confidence,
            channel=channel,
            rating=rating,
            inbox_id=inbox_id_of(tracker),
        )
    )


class ActionStartCheckin(EngageAction):
    """Ask the check-in's question (open, or 1-5 with buttons)."""

    def name(self) -> str:
        return "action_start_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        raw_id = entity(tracker, "checkin_id") or ""
        if not raw_id.isdigit() or tracker.get_slot("opted_out"):
            return []
        question = await self.in_transaction(
            lambda s: question_to_ask(s, tracker.sender_id, int(raw_id))
        )
        if question is None:
            return []
        if question.kind == QuestionKind.SCALE:
            dispatcher.utter_message(
                response="utter_checkin_question",
                question=question.wording,
                buttons=scale_buttons(),
            )
            next_stage = CHECKIN_SCALE
        else:
            dispatcher.utter_message(response="utter_checkin_question", question=question.wording)
            next_stage = CHECKIN_OPEN
        return [SlotSet("checkin_id", int(raw_id)), SlotSet("stage", next_stage)]


class ActionAnswerCheckin(EngageAction):
    """Store the answer to an open question (or a rating's why) as a themed view."""

    def name(self) -> str:
        return "action_answer_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        checkin_id = tracker.get_slot("checkin_id")
        theme, confidence = latest_theme(tracker)
        theme = theme if is_theme(theme) else None
        text = tracker.latest_message.get("text") or ""
        stored = checkin_id is not None and bool(
            await keep_answer(
                self, tracker, int(checkin_id), text=text, theme_key=theme, confidence=confidence
            )
        )
        if not stored:
            return lead_back(dispatcher, tracker)
        dispatcher.utter_message(response="utter_checkin_noted", theme_label=label(theme))
        return [SlotSet("stage", None), SlotSet("checkin_id", None)]


class ActionRateCheckin(EngageAction):
    """Store a 1-5 rating; ask why if the question wants it."""

    def name(self) -> str:
        return "action_rate_checkin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        checkin_id = tracker.get_slot("checkin_id")
        rating = entity(tracker, "rating") or ""
        if checkin_id is None or stage(tracker) != CHECKIN_SCALE:
            return lead_back(dispatcher, tracker)
        if not rating.isdigit() or int(rating) not in SCALE:
            dispatcher.utter_message(response="utter_checkin_rate_reask")
            return []
        answered = await keep_answer(
            self,
            tracker,
            int(checkin_id),
            text=rating,
            theme_key=None,
            confidence=None,
            rating=int(rating),
        )
        if answered is None:
            return lead_back(dispatcher, tracker)
        if answered.ask_why:
            dispatcher.utter_message(response="utter_checkin_why")
            return [SlotSet("stage", CHECKIN_WHY)]
        dispatcher.utter_message(response="utter_checkin_thanks")
        return [SlotSet("stage", None), SlotSet("checkin_id", None)]
