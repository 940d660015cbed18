"""A view about two things: cutting it in two, and when a side's theme is added."""

from __future__ import annotations

import math

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.corrections import named_themes
from bot.nlu.theme_classifier import (
    SecondThemeRule,
    Side,
    cuts,
    theme_examples,
    view_examples,
)

RULE = SecondThemeRule(clause_threshold=0.8, clear_threshold=0.95, primary_part_threshold=0.9)
RANKING = [("roads_transport", 0.7), ("waste_recycling", 0.2), ("housing", 0.1)]
BUSES = "the buses are always late"


def test_a_message_is_cut_at_each_clause_break_with_three_words_a_side():
    text = "the buses are always late and the bins are never emptied, its a joke"
    assert cuts(text) == [
        (BUSES, "the bins are never emptied, its a joke"),
        ("the buses are always late and the bins are never emptied", "its a joke"),
    ]
    assert cuts("bins and buses") == []  # too short a side
    assert cuts("the buses are late, and also\nthe bins stink") == [
        ("the buses are late", "the bins stink")
    ]  # several breaks in a row are one
    assert cuts("the buses are late & the bins stink - sort it out") == [
        ("the buses are late", "the bins stink - sort it out"),
        ("the buses are late & the bins stink", "sort it out"),
    ]
    assert cuts("the e-scooters on the high st.com site") == []  # no break within a word
    assert cuts("no break in this one at all") == []


def test_named_themes_are_the_catalogue_words_that_name_one_theme():
    assert named_themes("the bins are overflowing") == {"waste_recycling"}
    assert named_themes("potholes and the library") == {"roads_transport", "community_facilities"}
    assert named_themes("its a joke") == set()


def _cut(other: str, theme: str, confidence: float, primary: float = 0.97) -> tuple[Side, Side]:
    return Side(BUSES, "roads_transport", primary), Side(other, theme, confidence)


def test_a_side_clearly_about_another_theme_that_it_names_adds_it():
    halves = [_cut("the bins are never emptied", "waste_recycling", 0.85)]
    assert RULE.second_theme(RANKING, halves) == ("waste_recycling", 0.85)


def test_without_a_word_naming_the_theme_the_side_must_be_very_clear():
    assert (
        RULE.second_theme(RANKING, [_cut("it stinks round here", "waste_recycling", 0.85)]) is None
    )
    halves = [_cut("it stinks round here", "waste_recycling", 0.96)]
    assert RULE.second_theme(RANKING, halves) == ("waste_recycling", 0.96)


@pytest.mark.parametrize(
    "halves",
    [
        [_cut("the bins are never emptied", "waste_recycling", 0.7)],  # other side unclear
        [_cut("the bins are never emptied", "waste_recycling", 0.99, primary=0.6)],  # primary
        [_cut("the bus stop is filthy", "roads_transport", 0.99)],  # same theme both sides
        [
            (
                Side("the rent is too high", "housing", 0.99),
                Side("the bins are never emptied", "waste_recycling", 0.99),
            )
        ],  # neither side is the primary theme
        [],
    ],
)
def test_no_second_theme(halves):
    assert RULE.second_theme(RANKING, halves) is None


def test_the_clearest_side_wins():
    halves = [
        _cut("the bins are never emptied", "waste_recycling", 0.85),
        _cut("my damp flat", "housing", 0.9),
    ]
    assert RULE.second_theme(RANKING, halves) == ("housing", 0.9)


def test_views_about_two_things_are_read_but_the_classifier_learns_single_theme_ones():
    data = TrainingData(
        [
            Message.build(
                "rent up and bins missed",
                "share_view",
                example_metadata={"themes": ["housing", "waste_recycling"]},
            ),
            Message.build(
                "bins missed", "share_view", intent_metadata={"theme": "waste_recycling"}
            ),
        ]
    )
    assert view_examples(data) == [
        ("rent up and bins missed", ["housing", "waste_recycling"]),
        ("bins missed", ["waste_recycling"]),
    ]
    assert theme_examples(data) == (["bins missed"], ["waste_recycling"])


@pytest.mark.parametrize(
    ("themes", "error"),
    [
        (["housing", "aliens"], r"not in data/themes\.yml"),
        (["housing", "housing"], "different theme keys"),
        ("housing", "different theme keys"),
    ],
)
def test_badly_labelled_views_about_two_things_fail_training(themes, error):
    data = TrainingData([Message.build("x", "share_view", example_metadata={"themes": themes})])
    with pytest.raises(ValueError, match=error):
        theme_examples(data)


def test_a_change_to_the_classifiers_code_retrains_it():
    from bot.nlu.intent_classifier import EmbeddingIntentClassifier
    from bot.nlu.theme_classifier import ThemeClassifier

    theme = ThemeClassifier.fingerprint_addon({})
    assert theme == ThemeClassifier.fingerprint_addon({})  # stable: the cache still works
    assert theme != EmbeddingIntentClassifier.fingerprint_addon({})  # its own module counts


def test_a_long_list_of_clauses_is_cut_a_bounded_number_of_times():
    from bot.nlu.theme_classifier import MAX_CUTS

    text = ", ".join(f"item number {i} is broken" for i in range(120))
    found = cuts(text)
    assert len(found) == MAX_CUTS
    assert found[0] == cuts(text)[0] and len({before for before, _ in found}) == MAX_CUTS


def test_the_yes_no_models_stand_in_for_a_naming_word_or_the_cut():
    rule = SecondThemeRule(
        0.8, 0.95, 0.9, multi_threshold=0.4, two_threshold=0.2, alone_threshold=0.8
    )
    halves = [_cut("it stinks round here", "waste_recycling", 0.85)]
    unsure = {"roads_transport": 0.9, "waste_recycling": 0.1, "housing": 0.05}
    assert rule.second_theme(RANKING, halves, unsure, 0.1) is None
    multi = {**unsure, "waste_recycling": 0.5}  # the per-theme model is fairly sure
    assert rule.second_theme(RANKING, halves, multi, 0.1) == ("waste_recycling", 0.85)
    assert rule.second_theme(RANKING, halves, unsure, 0.3) == ("waste_recycling", 0.85)  # two
    alone = {**unsure, "housing": 0.85}  # no cut needed when very sure
    assert rule.second_theme(RANKING, [], alone, 0.0) == ("housing", 0.85)
    assert rule.second_theme(RANKING, [], {**alone, "housing": 0.75}, 0.0) is None
    assert RULE.second_theme(RANKING, [], alone, 1.0) is None  # off by default


def test_the_second_theme_signals_of_each_other_theme():
    from bot.nlu.theme_classifier import SIGNALS, second_theme_signals

    halves = [_cut("the bins are never emptied", "waste_recycling", 0.8, primary=0.9)]
    multi = {"waste_recycling": 0.5, "housing": 0.1}
    signals = second_theme_signals(RANKING, halves, multi, 0.2)
    assert set(signals) == {"waste_recycling", "housing"}  # never the primary theme
    cut = dict(zip(SIGNALS, signals["waste_recycling"], strict=True))
    assert cut["side"] == pytest.approx(math.log(4)) and cut["primary_side"] > cut["side"]
    assert (cut["per_theme"], cut["named"], cut["cut"]) == (0.0, 1.0, 1.0)
    assert cut["two"] == pytest.approx(math.log(0.25))
    assert cut["message"] == pytest.approx(math.log(0.25))
    alone = dict(zip(SIGNALS, signals["housing"], strict=True))
    assert (alone["side"], alone["primary_side"], alone["named"], alone["cut"]) == (0, 0, 0, 0)
    assert alone["per_theme"] == pytest.approx(math.log(0.1 / 0.9))
    assert second_theme_signals([], halves, multi, 0.2) == {}


def test_the_second_theme_score_weighs_the_signals():
    from bot.nlu.theme_classifier import SecondThemeScore

    halves = [_cut("it stinks round here", "waste_recycling", 0.7)]
    multi = {"waste_recycling": 0.5, "housing": 0.9}
    # Only a cut counts: waste (a cut's side) scores sigmoid(2 - 1), housing sigmoid(-1).
    only_cut = SecondThemeScore((0, 0, 0, 0, 0, 0, 2.0, -1.0), threshold=0.5)
    key, p = only_cut.second_theme(RANKING, halves, multi, 0.0)
    assert key == "waste_recycling" and p == pytest.approx(1 / (1 + math.exp(-1)))
    assert (
        SecondThemeScore(only_cut.weights, threshold=0.75).second_theme(RANKING, halves, multi)
        is None
    )
    # Only the per-theme model counts: housing, with no cut at all.
    per_theme = SecondThemeScore((0, 0, 1.0, 0, 0, 0, 0, 0), threshold=0.5)
    assert per_theme.second_theme(RANKING, halves, multi) == ("housing", pytest.approx(0.9))
    assert per_theme.second_theme([("housing", 1.0)], [], {}) is None  # no other theme


def test_the_classifier_reads_weights_or_thresholds_from_its_config():
    from bot.nlu.theme_classifier import SecondThemeScore, ThemeClassifier

    def rule(**config: object) -> object:
        settings = {**ThemeClassifier.get_default_config(), **config}
        return ThemeClassifier(settings, None, None).rule()

    assert isinstance(rule(), SecondThemeRule)
    weights = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, -1.0]
    assert rule(second_weights=weights, second_threshold=0.3) == SecondThemeScore(
        tuple(weights), 0.3
    )
    with pytest.raises(ValueError, match="second_weights needs 8 numbers"):
        rule(second_weights=weights[:-1])
