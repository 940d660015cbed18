"""The Rasa components: keyword override and the theme classifier's training data checks."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.keyword_intents import KeywordIntentOverride
from bot.nlu.theme_classifier import theme_examples


def _message(text: str, intent: str = "share_view") -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.6}, add_to_output=True)
    message.set(
        "intent_ranking",
        [{"name": intent, "confidence": 0.6}, {"name": "opt_out", "confidence": 0.3}],
        add_to_output=True,
    )
    return message


def test_keywords_override_the_statistical_intent():
    component = KeywordIntentOverride()
    stop, view = component.process([_message(" Stop "), _message("the buses stop at 6")])
    assert stop.get("intent") == {"name": "opt_out", "confidence": 1.0}
    assert [i["name"] for i in stop.get("intent_ranking")] == ["opt_out", "share_view"]
    assert view.get("intent")["name"] == "share_view"


def test_theme_examples_come_from_intent_metadata():
    data = TrainingData(
        [
            Message.build(
                "bins missed", "share_view", intent_metadata={"theme": "waste_recycling"}
            ),
            Message.build("hello", "greet"),
        ]
    )
    assert theme_examples(data) == (["bins missed"], ["waste_recycling"])


def test_a_theme_outside_the_catalogue_fails_training():
    data = TrainingData([Message.build("x", "share_view", intent_metadata={"theme": "aliens"})])
    with pytest.raises(ValueError, match=r"not in data/themes\.yml"):
        theme_examples(data)


def test_another_encoder_retrains(tmp_path):
    """Rasa reuses a cached component unless its fingerprint changes: ENCODER_DIR must."""
    from bot.nlu.theme_classifier import ThemeClassifier

    first, second = tmp_path / "first", tmp_path / "second"
    for folder, size in ((first, 384), (second, 768)):
        folder.mkdir()
        (folder / "config.json").write_text(f'{{"hidden_size": {size}}}')
    config = {**ThemeClassifier.get_default_config(), "encoder_dir": str(first)}
    fingerprint = ThemeClassifier.fingerprint_addon(config)
    assert ThemeClassifier.fingerprint_addon(config) == fingerprint
    assert ThemeClassifier.fingerprint_addon({**config, "encoder_dir": str(second)}) != fingerprint
    assert ThemeClassifier.fingerprint_addon({"C": 100.0})  # config.yml's settings alone
