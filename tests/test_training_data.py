"""Training data: Rasa's validator is clean, themes match the catalogue, the test split is apart."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.nlu.evaluation import load_labelled, load_training_views
from bot.settings import PROJECT_ROOT
from bot.themes import theme_keys

DATA = [str(PROJECT_ROOT / "data" / d) for d in ("nlu", "rules", "stories")]
TEST_SPLIT = PROJECT_ROOT / "tests" / "nlu" / "themes_test.yml"
PAYLOAD_ONLY_INTENTS = {
    "non_text", "rate", "start_checkin", "checkins_paused", "confirm_erase", "confirm_forget_last"
}  # fmt: skip
# Responses our code sends (actions in a Rasa turn, the notifier outside one).
ACTIONS_CODE = "\n".join(
    p.read_text() for folder in ("actions", "bot") for p in (PROJECT_ROOT / folder).rglob("*.py")
)


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


@pytest.fixture(scope="module")
def validator():
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    importer = TrainingDataImporter.load_from_dict(
        domain_path=str(PROJECT_ROOT / "domain.yml"),
        config_path=str(PROJECT_ROOT / "config.yml"),
        training_data_paths=DATA,
    )
    return Validator.from_importer(importer)


def test_rasa_validator_is_clean(validator):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks = [
            validator.verify_domain_validity(),
            validator.verify_intents_in_stories(ignore_warnings=False),
            validator.verify_example_repetition_in_intents(ignore_warnings=False),
            validator.verify_utterances_in_stories(ignore_warnings=True),
            validator.verify_story_structure(ignore_warnings=False),
            validator.verify_actions_in_stories_rules(),
            validator.verify_forms_in_stories_rules(),
            validator.verify_slot_mappings(),
        ]
    assert all(checks)
    for warning in caught:
        message = str(warning.message)
        unused = re.search(r"The utterance '(utter_\w+)' is not used in any story or rule", message)
        payload_only = re.search(r"The intent '(\w+)' is listed in the domain file, but", message)
        if unused:  # sent by one of our actions rather than by a rule
            assert f'"{unused.group(1)}"' in ACTIONS_CODE, message
        elif payload_only:  # sent by our channels as a payload, never typed
            assert payload_only.group(1) in PAYLOAD_ONLY_INTENTS, message
        else:
            assert message.startswith("Slot auto-fill has been removed"), message


def test_every_response_is_used_by_a_rule_a_story_or_an_action():
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    flows = "\n".join(p.read_text() for d in DATA for p in Path(d).rglob("*.yml"))
    for name in domain["responses"]:
        assert f'"{name}"' in ACTIONS_CODE or f"action: {name}" in flows, name


def test_theme_files_match_the_catalogue():
    files = sorted(p.stem for p in (PROJECT_ROOT / "data" / "nlu" / "themes").glob("*.yml"))
    assert files == sorted(theme_keys())
    for key in files:
        raw = yaml.safe_load((PROJECT_ROOT / "data" / "nlu" / "themes" / f"{key}.yml").read_text())
        assert [block["metadata"]["theme"] for block in raw["nlu"]] == [key]


def test_at_least_forty_varied_examples_per_theme():
    texts, labels = load_training_views()
    counts = Counter(labels)
    assert set(counts) == set(theme_keys())
    assert min(counts.values()) >= 40, counts
    assert len({normalise(t) for t in texts}) == len(texts), "duplicate training examples"
    # Most examples do not simply name their theme.
    for key in theme_keys():
        word = key.split("_")[0]
        naming = sum(
            word in t.lower() for t, label in zip(texts, labels, strict=True) if label == key
        )
        assert naming < counts[key] / 2, key


def test_the_test_split_is_never_used_for_training():
    train, _ = load_training_views()
    test, labels = load_labelled(TEST_SPLIT)
    assert min(Counter(labels).values()) >= 15
    assert {normalise(t) for t in train}.isdisjoint({normalise(t) for t in test})
    assert not TEST_SPLIT.is_relative_to(PROJECT_ROOT / "data")
