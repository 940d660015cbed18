"""'What have I told you?': a short summary of the resident's stored views."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction
from bot.services.residents import find_resident
from bot.services.views import ViewSummary, summarise_views
from bot.themes import label

MAX_THEMES_LISTED = 4


def breakdown(summary: ViewSummary) -> tuple[str, int]:
    """'Roads & transport (2), Housing (1)' for the top themes, and how many themes are left."""
    listed = summary.by_theme[:MAX_THEMES_LISTED]
    text = ", ".join(f"{label(key)} ({count})" for key, count in listed)
    return text, len(summary.by_theme) - len(listed)


class ActionSummariseViews(EngageAction):
    """Tell the resident what they have told us, by theme."""

    def name(self) -> str:
        return "action_summarise_views"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        def _summary(session):  # type: ignore[no-untyped-def]
            resident = find_resident(session, tracker.sender_id)
            if resident is None:
                return None, None
            return summarise_views(session, resident), resident

        summary, resident = await self.in_transaction(_summary)
        if resident is None:
            dispatcher.utter_message(response="utter_no_views")
            return []
        joined = resident.created_at
        details = {
            "joined": f"{joined.day} {joined:%b %Y}",
            "area": resident.area or "not given",
            "rhythm": resident.rhythm.replace("_", " "),
        }
        contact = self.settings.data_request_contact
        if summary.total == 0:
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
        dispatcher: CollectingDispatcher, summary: ViewSummary, details: dict[str, str]
    ) -> None:
        listed, more = breakdown(summary)
        if summary.total == 1:
            response = "utter_views_summary_one"
        elif more:
            response = "utter_views_summary_more"
        else:
            response = "utter_views_summary"
        dispatcher.utter_message(
            response=response,
            count=summary.total,
            breakdown=listed,
            more=more,
            theme_label=label(summary.by_theme[0][0]),
            **details,
        )
