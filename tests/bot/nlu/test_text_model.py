"""The text classifier behind the intent and theme components: ranks, saves without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from bot.nlu.text_model import TextModel, train_head, train_text_model
from bot.settings import get_settings

TEXTS = [
    "the bus never comes", "trains are always late", "potholes on my road",
    "bins not emptied", "rubbish everywhere in the street", "recycling centre closed",
    "damp in my flat", "the landlord wont fix the boiler", "rent is too high for my house",
]  # fmt: skip
LABELS = ["roads"] * 3 + ["waste"] * 3 + ["housing"] * 3


@pytest.fixture(scope="module")
def model() -> TextModel:
    from bot.nlu.encoder_assets import ensure_encoder

    return train_text_model(TEXTS, LABELS, encoder_dir=ensure_encoder(get_settings().encoder_dir))


def test_ranks_labels_with_probabilities(model):
    [ranking] = model.rank(["the 42 bus was late again"])
    assert ranking[0][0] == "roads"
    assert [label for label, _ in ranking] == sorted(
        [label for label, _ in ranking], key=lambda lab: -dict(ranking)[lab]
    )
    assert sum(p for _, p in ranking) == pytest.approx(1.0, abs=1e-5)


def test_saves_and_loads_the_same_model_without_pickle(model, tmp_path):
    model.save(tmp_path)
    with np.load(tmp_path / "text_model.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"coef", "intercept", "word_idf", "char_idf"}
    loaded = TextModel.load(tmp_path, encoder_dir=get_settings().encoder_dir)
    texts = ["my bins were missed", "mould on the walls"]
    assert np.allclose(loaded.probabilities(texts), model.probabilities(texts), atol=1e-6)


def test_training_is_deterministic(model):
    again = train_text_model(TEXTS, LABELS, encoder_dir=get_settings().encoder_dir)
    assert np.allclose(again.coef, model.coef) and np.allclose(again.intercept, model.intercept)


def test_a_model_trained_with_another_encoder_is_a_clear_error(model, tmp_path, monkeypatch):
    """Loaded with an encoder of another size, the model would fail on every message."""
    from bot.nlu import text_model

    model.save(tmp_path)
    larger = type("Encoder", (), {"dimension": 768})()
    monkeypatch.setattr(text_model, "shared_encoder", lambda directory: larger)
    with pytest.raises(
        RuntimeError, match=r"trained with a sentence encoder of 384 dim.*make train"
    ):
        TextModel.load(tmp_path, encoder_dir=get_settings().encoder_dir)


def test_no_model_in_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no trained model"):
        TextModel.load(tmp_path, encoder_dir=get_settings().encoder_dir)


def test_heads_answer_yes_no_questions_and_are_saved_with_the_model(tmp_path):
    model = train_text_model(TEXTS, LABELS, encoder_dir=get_settings().encoder_dir)
    several = [[label] for label in LABELS]
    several[0] = ["roads", "waste"]  # a text about two things
    model.heads = {"multi": train_head(model, TEXTS, several, ["roads", "waste", "housing"], c=10)}
    rankings, answers = model.analyse(["the bins stink", "damp flat"])
    assert rankings == model.rank(["the bins stink", "damp flat"])
    assert answers[0]["multi"]["waste"] > 0.5 > answers[0]["multi"]["housing"]
    model.save(tmp_path)
    loaded = TextModel.load(tmp_path, encoder_dir=get_settings().encoder_dir)
    _, again = loaded.analyse(["the bins stink", "damp flat"])
    for before, after in zip(answers, again, strict=True):
        assert after["multi"] == pytest.approx(before["multi"], abs=1e-6)
    assert model.analyse([]) == ([], [])


ODD_TEXTS = [
    "", "   ", "!!!", "the the the bus bus", "BINS NOT EMPTIED!!!", "ÄÖÜ ñ 😀 emoji",
    "x" * 2000, "my bins were missed again and the road outside no. 12 has a pothole",
]  # fmt: skip


@pytest.mark.parametrize("reloaded", [False, True], ids=["trained", "reloaded"])
def test_features_equal_sklearns_transform(model, tmp_path, reloaded):
    """The features built row by row (NgramWeights) are sklearn's, to the last bit."""
    from bot.nlu.text_model import combined_features

    if reloaded:  # the idf is float64 once loaded, float32 as trained
        model.save(tmp_path)
        model = TextModel.load(tmp_path, encoder_dir=get_settings().encoder_dir)
    texts = TEXTS + ODD_TEXTS
    ours = model.features(texts)
    sklearns = combined_features(
        model.encoder, model.word, model.char, texts, model.embedding_weight
    )
    assert ours.shape == sklearns.shape
    assert np.array_equal(ours.toarray(), sklearns.toarray())
    by_sklearn = model._softmax_of(sklearns)
    assert np.array_equal(model.probabilities(texts), by_sklearn)
    one_by_one = np.vstack([model.probabilities([text]) for text in texts])
    assert np.array_equal(one_by_one, by_sklearn)
