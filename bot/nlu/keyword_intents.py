"""Rasa NLU component: STOP, START and HELP keywords win over any statistical guess."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.keywords import keyword_intent
from bot.nlu.component_base import override_intent


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class KeywordIntentOverride(GraphComponent):
    """Sets the intent with certainty when the whole message is a carrier keyword."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KeywordIntentOverride:
        """Nothing to configure."""
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        """Override the intent of keyword messages ("stop", " STOP. ", "Help")."""
        for message in messages:
            intent = keyword_intent(message.get(TEXT) or "")
            if intent is not None:
                override_intent(message, intent, 1.0)
        return messages
