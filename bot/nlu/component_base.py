"""What the intent and theme classifiers share: a TextModel trained, saved and loaded by Rasa."""

from __future__ import annotations

import hashlib
import inspect
import logging
import sys
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.text_model import Head, TextModel, train_text_model

logger = logging.getLogger(__name__)


def override_intent(message: Message, intent: str, confidence: float) -> None:
    """Make `intent` the message's intent, with `confidence`, first in its ranking."""
    top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: round(confidence, 4)}
    others = [
        item
        for item in message.get(INTENT_RANKING_KEY) or []
        if item.get(INTENT_NAME_KEY) != intent
    ]
    message.set(INTENT, top, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [top, *others], add_to_output=True)


class TextModelComponent(GraphComponent):
    """A Rasa component around a TextModel; subclasses say what to learn and what to set."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Defaults; `encoder_dir` empty means the ENCODER_DIR setting."""
        return {
            "encoder_dir": "",
            "C": 10.0,
            "embedding_weight": 1.0,
            "random_seed": 1,
            "class_weight": None,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: TextModel | None = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @staticmethod
    def _encoder_dir(config: dict[str, Any]) -> Path:
        from bot.settings import get_settings

        # Rasa's training cache asks for the fingerprint with config.yml's settings alone.
        configured = config.get("encoder_dir")
        return Path(configured) if configured else get_settings().encoder_dir

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The code that picks and fits the examples, and the encoder, so that a change retrains.

        Rasa reuses a cached component whose config and data are unchanged; without this,
        a change to which examples are learnt, or another ENCODER_DIR, would be silently
        left out of `make train`.
        """
        digest = hashlib.sha256()
        for module in sorted({cls.__module__, __name__, train_text_model.__module__}):
            source = inspect.getsourcefile(sys.modules[module])
            digest.update(Path(source).read_bytes() if source else module.encode())
        encoder_config = cls._encoder_dir(config) / "config.json"
        if encoder_config.is_file():
            digest.update(encoder_config.read_bytes())
        return digest.hexdigest()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextModelComponent:
        """A new, untrained component."""
        return cls(config, model_storage, resource)

    def examples(self, training_data: TrainingData) -> tuple[list[str], list[str]]:
        """The texts and labels to learn from."""
        raise NotImplementedError

    def heads(self, training_data: TrainingData, model: TextModel) -> dict[str, Head]:
        """Extra yes/no classifiers over the model's features (none unless a subclass says)."""
        return {}

    def annotate(
        self,
        message: Message,
        ranking: list[tuple[str, float]],
        answers: dict[str, dict[str, float]],
    ) -> None:
        """Write the prediction (and the heads' `answers`) into the message."""
        raise NotImplementedError

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the model and save it."""
        texts, labels = self.examples(training_data)
        if len(set(labels)) < 2:
            raise ValueError(f"{type(self).__name__} needs examples of at least two labels")
        self._model = train_text_model(
            texts,
            labels,
            encoder_dir=self._encoder_dir(self._config),
            c=float(self._config["C"]),
            embedding_weight=float(self._config["embedding_weight"]),
            seed=int(self._config["random_seed"]),
            class_weight=self._config.get("class_weight"),
        )
        self._model.heads = self.heads(training_data, self._model)
        with self._model_storage.write_to(self._resource) as directory:
            self._model.save(directory)
        logger.info("%s trained on %d examples.", type(self).__name__, len(texts))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TextModelComponent:
        """Load the trained model (and the sentence encoder it needs)."""
        try:
            with model_storage.read_from(resource) as directory:
                model = TextModel.load(directory, encoder_dir=cls._encoder_dir(config))
        except ValueError:
            logger.warning("%s has no trained model: it will predict nothing.", cls.__name__)
            model = None
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        """Annotate each message with the model's ranking."""
        if self._model is None or not messages:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        rankings, answers = self._model.analyse(texts)
        for message, ranking, answer in zip(messages, rankings, answers, strict=True):
            self.annotate(message, ranking, answer)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to training data."""
        return training_data
