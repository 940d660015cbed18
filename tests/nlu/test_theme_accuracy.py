"""The trained pipeline meets the theme target on the held-out split and beats the baseline."""

from __future__ import annotations

import pytest

from bot.nlu.evaluation import (
    ThemeParser,
    load_labelled,
    load_training_views,
    score,
    tfidf_baseline,
)
from bot.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "models" / "engage.tar.gz"
TARGET_MACRO_F1 = 0.90


@pytest.fixture(scope="module")
def split():
    return load_labelled(PROJECT_ROOT / "tests" / "nlu" / "themes_test.yml")


def test_pipeline_meets_the_target_and_beats_tfidf_logistic_regression(split):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` first")
    texts, labels = split
    ours = score(labels, [p.theme for p in ThemeParser(MODEL).classify(texts)])
    train_texts, train_labels = load_training_views()
    baseline = score(labels, list(tfidf_baseline(train_texts, train_labels).predict(texts)))
    assert ours.macro_f1 >= TARGET_MACRO_F1, f"macro-F1 {ours.macro_f1:.3f}"
    assert ours.macro_f1 > baseline.macro_f1
