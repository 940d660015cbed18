"""Rasa NLU component: the theme of a resident's message, with a confidence.

Trained on the `share_view` examples, whose intent metadata names their theme
(data/nlu/themes/<key>.yml). Every message gets `theme` ({name, confidence}) and
`theme_ranking` in its parse data; the dialogue uses them only where a view is expected.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.component_base import TextModelComponent
from bot.themes import theme_keys

VIEW_INTENT = "share_view"
THEME = "theme"
THEME_RANKING = "theme_ranking"


def theme_examples(training_data: TrainingData) -> tuple[list[str], list[str]]:
    """The texts and theme keys of the training data's theme-labelled views."""
    texts, labels = [], []
    known = set(theme_keys())
    for message in training_data.intent_examples:
        if message.get(INTENT) != VIEW_INTENT:
            continue
        theme = ((message.get(METADATA) or {}).get(METADATA_INTENT) or {}).get(THEME)
        if theme not in known:
            raise ValueError(
                f"share_view example {message.get(TEXT)!r} has theme {theme!r}, "
                "which is not in data/themes.yml"
            )
        texts.append(message.get(TEXT))
        labels.append(theme)
    return texts, labels


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class ThemeClassifier(TextModelComponent):
    """Adds `theme` and `theme_ranking` to every parsed message."""

    def examples(self, training_data: TrainingData) -> tuple[list[str], list[str]]:
        """The theme-labelled views."""
        return theme_examples(training_data)

    def annotate(self, message: Message, ranking: list[tuple[str, float]]) -> None:
        """Set the most likely theme and the full ranking."""
        items = [{"name": key, "confidence": round(p, 4)} for key, p in ranking]
        message.set(THEME, items[0], add_to_output=True)
        message.set(THEME_RANKING, items, add_to_output=True)
