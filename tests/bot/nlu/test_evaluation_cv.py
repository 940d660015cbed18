"""Cross-validation tallies: what the safeguarding detector and the fallback make of examples."""

from __future__ import annotations

from bot.nlu.evaluation import (
    HeldOutExample,
    HeldOutView,
    fit_second_theme_weights,
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
