"""Cross-validation tallies: what the safeguarding detector and the fallback make of examples."""

from __future__ import annotations

from bot.nlu.evaluation import HeldOutExample, offtopic_cv, safeguarding_cv

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
