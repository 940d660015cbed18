"""Cross-validation tallies: what the safeguarding detector and the fallback make of examples."""

from __future__ import annotations

from bot.nlu.evaluation import (
    HeldOutExample,
    HeldOutView,
    _folds,
    fit_second_theme_weights,
    fold_of,
    offtopic_cv,
    safeguarding_cv,
    second_theme_score_cv,
)
from bot.nlu.theme_classifier import SIGNALS, Side

SURE_VIEW = 0.95


def _example(text: str, intent: str, risk: float, view: float) -> HeldOutExample:
    ranking = [("none", 1 - risk), ("danger_now", risk)]
    top = [("share_view", view), ("greet", 1 - view)]
    return HeldOutExample(text, intent, top, ranking, view)


def test_the_view_veto_spares_views_and_not_disclosures():
    examples = [
        _example("the junction is a death trap", "share_view", 0.2, SURE_VIEW),
        _example("i cant do this anymore", "self_harm", 0.2, 0.3),
        _example("there is a fight outside right now", "danger_now", 0.5, SURE_VIEW),
        _example("the bins", "share_view", 0.01, SURE_VIEW),
    ]
    without = safeguarding_cv(examples, critical=0.1, other=0.5)
    assert (without["critical"].right, without["views"].right) == (2, 1)
    vetoed = safeguarding_cv(examples, critical=0.1, other=0.5, sure=0.3, veto=0.9)
    assert (vetoed["critical"].right, vetoed["views"].right) == (2, 2)


def test_off_topic_is_stored_only_as_a_clear_unflagged_view():
    examples = [
        _example("is there a prize", "ask_about_service", 0.0, 0.9),  # taken for a view
        _example("merry christmas", "greet", 0.0, 0.3),
        _example("happy new year, stay safe", "greet", 0.2, 0.9),  # flagged: not a view
    ]
    got = offtopic_cv(examples, fallback=0.5, ambiguity=0.1, critical=0.1, other=0.5)
    assert (got.right, got.total) == (2, 3)
    assert got.wrong == ("is there a prize",)


def _view(text: str, themes: tuple[str, ...], side: float, per_theme: float) -> HeldOutView:
    primary, other = "roads_transport", "waste_recycling"
    halves = [(Side("the buses are late", primary, 0.95), Side(text, other, side))]
    ranking = [(primary, 0.9), (other, 0.05), ("housing", 0.05)]
    return HeldOutView(f"the buses are late and {text}", themes, ranking, halves,
                       {other: per_theme, "housing": 0.05}, 0.1)  # fmt: skip


def test_the_second_theme_weights_learn_what_tells_two_things_apart():
    two = ("roads_transport", "waste_recycling")
    views = [_view(f"the bins {i} overflow", two, 0.6, 0.7) for i in range(20)]
    views += [_view(f"its a joke {i} really", ("roads_transport",), 0.6, 0.1) for i in range(20)]
    weights = fit_second_theme_weights(views)
    assert weights[SIGNALS.index("per_theme")] > 0  # the only signal that differs
    scored = second_theme_score_cv(views, [0.5])[0.5]
    assert (scored[0].rate, scored[1].rate) == (1.0, 1.0)  # both found; no false second


def test_adding_an_example_leaves_every_other_example_in_its_fold():
    texts = [f"the bins on street {i} were not emptied" for i in range(60)]
    strata = ["waste_recycling/1" if i % 3 else "housing/1" for i in range(60)]
    before = {texts[i]: k for k, (_, test) in enumerate(_folds(strata, 5, 1, texts)) for i in test}
    added = ["a new view about the park", *texts]
    after = {
        added[i]: k
        for k, (_, test) in enumerate(_folds(["parks/1", *strata], 5, 1, added))
        for i in test
    }
    assert all(after[text] == fold for text, fold in before.items())
    assert sorted(before.values()) != [0] * 60  # spread over the folds
    assert len(set(before.values())) == 5


def test_a_fold_is_a_function_of_the_normalised_text_and_its_stratum():
    assert fold_of("The bins  ", "waste/1", 5, 1) == fold_of("the bins", "waste/1", 5, 1)
    assert 0 <= fold_of("the bins", "waste/1", 5, 1) < 5
    # Every example is in exactly one test fold, and out of it in the others.
    texts = [f"view number {i}" for i in range(40)]
    folds = _folds(["a"] * 40, 5, 1, texts)
    tested = sorted(i for _, test in folds for i in test)
    assert tested == list(range(40))
    assert all(len(train) + len(test) == 40 for train, test in folds)


def test_examples_neither_safeguarding_nor_views_are_counted_apart():
    crime = [("none", 0.4), ("crime_report", 0.6)]
    examples = [
        HeldOutExample("cars broken into every week", "share_view", [], crime, 0.95),
        HeldOutExample("my car was broken into", "crime_report", [], crime, 0.2),
        HeldOutExample("hello there", "greet", [], crime, 0.1),
        HeldOutExample("how long does this take", "ask_about_service", [], [("none", 1.0)], 0.1),
    ]
    got = safeguarding_cv(examples, critical=0.1, other=0.5)
    assert (got["views"].right, got["other"].right) == (0, 1)
    assert (got["rest"].right, got["rest"].total) == (1, 2)
    assert got["rest"].wrong == ("hello there",)
