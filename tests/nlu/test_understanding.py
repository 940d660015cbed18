"""The trained pipeline understands what a message is, on held-out splits never trained on.

The goals that are met are held exactly: no danger or self-harm message missed, no
off-topic message taken for a view, at most 5% of single-theme views given a second
theme. The others (false alarms on ordinary views, views about two things found) are
guarded at what the model achieves today; docs/BENCHMARKS.md gives them against their
goals. A change that makes any of them worse fails here.
`NLU_TEST_MODEL=/path/to/model.tar.gz` checks a candidate before it replaces
models/engage.tar.gz.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.nlu.evaluation import (
    ThemeParser,
    load_items,
    load_labelled,
    multitheme_results,
    offtopic_results,
    safeguarding_results,
)
from bot.settings import PROJECT_ROOT

MODEL = Path(os.environ.get("NLU_TEST_MODEL") or PROJECT_ROOT / "models" / "engage.tar.gz")
SPLITS = PROJECT_ROOT / "tests" / "nlu"


@pytest.fixture(scope="module")
def parser() -> ThemeParser:
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first")
    return ThemeParser(MODEL)


@pytest.fixture(scope="module")
def ordinary_views() -> list[str]:
    texts, _ = load_labelled(SPLITS / "themes_test.yml")
    return texts


def test_no_danger_or_self_harm_message_is_missed(parser):
    results = safeguarding_results(parser, load_items(SPLITS / "safeguarding_test.yml", "kind"))
    for kind in ("danger_now", "self_harm"):
        assert results[kind].wrong == (), f"{kind} missed: {results[kind].wrong}"
    for kind in ("abuse", "crime_report"):
        assert results[kind].rate >= 0.95, results[kind].wrong  # 1.0 now
    assert results["none"].rate >= 0.97, results["none"].wrong  # hard negatives (0.973 now)


def test_few_ordinary_views_are_taken_for_danger(parser, ordinary_views):
    items = [{"text": text, "kind": "none"} for text in ordinary_views]
    flagged = safeguarding_results(parser, items)["none"]
    assert flagged.rate >= 0.96, flagged.wrong  # goal 0.98 (0.967 now): see docs/BENCHMARKS.md


def test_off_topic_messages_are_not_taken_for_views(parser):
    result = offtopic_results(parser, load_items(SPLITS / "offtopic_test.yml", "intent"))
    assert result.wrong == ()


def test_views_about_two_things(parser, ordinary_views):
    both, alone = multitheme_results(
        parser, load_items(SPLITS / "multitheme_test.yml", "themes"), ordinary_views
    )
    assert both.rate >= 0.75, both.wrong  # goal 0.80 (0.758 now): see docs/BENCHMARKS.md
    assert alone.rate >= 0.95, alone.wrong  # the goal (0.962 now)
