""" "Any news on what I said?": the latest updates that answered their views, or none yet."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EngageAction
from bot.services.updates import news_for


class ActionNews(EngageAction):
    """Tell the resident what changed because of what people like them said."""

    def name(self) -> str:
        return "action_news"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        news = await self.in_transaction(
            lambda s: [(u.published_at, u.we_did) for u in news_for(s, tracker.sender_id)]
        )
        if not news:
            dispatcher.utter_message(response="utter_no_news")
            return []
        dispatcher.utter_message(response="utter_news", org_name=self.settings.org_name)
        for published_at, we_did in news:
            dispatcher.utter_message(
                response="utter_news_item", when=f"{published_at:%-d %b %Y}", we_did=we_did
            )
        return []
