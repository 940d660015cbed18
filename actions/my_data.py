"""'What have I told you?': a short summary of the resident's stored views."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction
from bot.services.rights import ResidentSummary, summary_for
from bot.themes import label

MAX_THEMES_LISTED = 4


def breakdown(summary: ResidentSummary) -> tuple[str, int]:
    """'Roads & transport (2), Housing (1)' for the top themes, and how many themes are left."""
    listed = summary.themes[:MAX_THEMES_LISTED]
    text = ", ".join(f"{label(key)} ({count})" for key, count in listed)
    return text, len(summary.themes) - len(listed)


class ActionSummariseViews(EngageAction):
    """Tell the resident what they have told us, by theme."""

    def name(self) -> str:
        return "action_summarise_views"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        summary = await self.in_transaction(lambda s: summary_for(s, tracker.sender_id))
        if summary is None:
            dispatcher.utter_message(response="utter_no_views")
            return []
        joined = summary.joined
        details = {
            "joined": f"{joined.day} {joined:%b %Y}",
            "area": summary.area or "not given",
            "rhythm": summary.rhythm.replace("_", " "),
        }
        contact = self.settings.data_request_contact
        if summary.views == 0:
            dispatcher.utter_message(response="utter_no_views_details", **details)
        else:
            self._summarise(dispatcher, summary, details)
        if contact:
            dispatcher.utter_message(response="utter_data_copy", data_request_contact=contact)
        else:
            dispatcher.utter_message(
                response="utter_data_copy_privacy", privacy_url=self.settings.privacy_url
            )
        return []

    @staticmethod
    def _summarise(
        dispatcher: CollectingDispatcher, summary: ResidentSummary, details: dict[str, str]
    ) -> None:
        listed, more = breakdown(summary)
        if summary.views == 1:
            response = "utter_views_summary_one"
        elif more:
            response = "utter_views_summary_more"
        else:
            response = "utter_views_summary"
        dispatcher.utter_message(
            response=response,
            count=summary.views,
            breakdown=listed,
            more=more,
            theme_label=label(summary.themes[0][0]),
            **details,
        )
