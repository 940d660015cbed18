"""Rasa NLU component: the theme of a resident's message, with a confidence.

Trained on the `share_view` examples, whose intent metadata names their theme
(data/nlu/themes/<key>.yml). Every message gets `theme` ({name, confidence}) and
`theme_ranking` in its parse data; the dialogue uses them only where a view is expected.

A message about two things ("the tram is always late and there's dog mess everywhere")
also gets its second theme: each clause is classified on its own, and a clause that is
clearly (`clause_threshold`) about another theme, which the whole message also leans
towards (`message_threshold`), adds it. `themes` lists the primary theme first.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.component_base import TextModelComponent
from bot.themes import theme_keys

VIEW_INTENT = "share_view"
THEME = "theme"
THEME_RANKING = "theme_ranking"
THEMES = "themes"
MIN_CLAUSE_WORDS = 3
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[.;!?]+\s|,|\band also\b|\balso\b|\bplus\b|\band\b|\bbut\b|\bas well as\b)\s*",
    re.IGNORECASE,
)


def clauses(text: str) -> list[str]:
    """The parts of a message that could each be about something else (3+ words each)."""
    return [p for p in _CLAUSE_BREAK.split(text) if len(p.split()) >= MIN_CLAUSE_WORDS]


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
    """Adds `theme`, `theme_ranking` and `themes` to every parsed message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The shared defaults and the second-theme thresholds."""
        return {
            **TextModelComponent.get_default_config(),
            "clause_threshold": 0.6,
            "message_threshold": 0.05,
        }

    def examples(self, training_data: TrainingData) -> tuple[list[str], list[str]]:
        """The theme-labelled views."""
        return theme_examples(training_data)

    def annotate(self, message: Message, ranking: list[tuple[str, float]]) -> None:
        """Set the most likely theme and the full ranking."""
        items = [{"name": key, "confidence": round(p, 4)} for key, p in ranking]
        message.set(THEME, items[0], add_to_output=True)
        message.set(THEME_RANKING, items, add_to_output=True)
        message.set(THEMES, items[:1], add_to_output=True)

    def process(self, messages: list[Message]) -> list[Message]:
        """The theme of each message, then a second theme from its clauses, if any."""
        messages = super().process(messages)
        if self._model is None:
            return messages
        pieces, owners = [], []
        for index, message in enumerate(messages):
            parts = clauses(message.get(TEXT) or "")
            if len(parts) > 1:
                pieces += parts
                owners += [index] * len(parts)
        tops: dict[int, list[tuple[str, float]]] = {}
        for owner, ranking in zip(owners, self._model.rank(pieces) if pieces else [], strict=True):
            tops.setdefault(owner, []).append(ranking[0])
        for index, candidates in tops.items():
            message = messages[index]
            second = self.second_theme(message.get(THEME_RANKING) or [], candidates)
            if second is not None:
                message.set(THEMES, [message.get(THEME), second], add_to_output=True)
        return messages

    def second_theme(
        self, ranking: list[dict[str, Any]], candidates: list[tuple[str, float]]
    ) -> dict[str, Any] | None:
        """The clearest clause theme other than the primary one, if clear enough."""
        if not ranking:
            return None
        overall = {item["name"]: item["confidence"] for item in ranking}
        primary = ranking[0]["name"]
        clause_threshold = float(self._config["clause_threshold"])
        message_threshold = float(self._config["message_threshold"])
        found = [
            (key, p)
            for key, p in candidates
            if key != primary and p >= clause_threshold and overall.get(key, 0) >= message_threshold
        ]
        if not found:
            return None
        key, p = max(found, key=lambda kp: kp[1])
        return {"name": key, "confidence": round(p, 4)}
