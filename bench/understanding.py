"""How well the trained model understands what a message is, on the held-out splits.

Safeguarding: every danger and self-harm message must be flagged (recall 1.0), and
under 2% of ordinary views (the 210 of the themes split) may be; the hard negatives of
the safeguarding split are reported apart. Off-topic: none taken for a
view. Views about two things: both themes found in at least 80%, a second theme given to
at most 5% of single-theme views (tests/nlu/themes_test.yml). It reads models/engage.tar.gz
(`make train` first), or the model given with `--model`, and prints what it got wrong.

`--cv` measures the same things by 5-fold cross-validation on the training data
(data/nlu, or `--data DIR`) instead, with config.yml's settings, and sweeps the thresholds
around them: that, never the held-out splits, is how config.yml's thresholds are chosen.
It also fits the second-theme score's weights on what the theme models said about the
views they were not trained on, and judges them by a second level of folds.
It trains 15 models and the theme classifier's yes/no models (about 10 minutes on 2
cores).

    .venv/bin/python bench/understanding.py [--model PATH]
    .venv/bin/python bench/understanding.py --cv [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from itertools import product
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.nlu.evaluation import (  # noqa: E402
    ThemeParser,
    cross_validate_intents,
    cross_validate_themes,
    cv_encoder,
    fit_second_theme_weights,
    load_items,
    load_labelled,
    multitheme_results,
    offtopic_cv,
    offtopic_results,
    safeguarding_cv,
    safeguarding_results,
    second_theme_cv,
    second_theme_score_cv,
)

SPLITS = ROOT / "tests" / "nlu"
CRITICAL_SWEEP = (0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3)
SURE_SWEEP = (0.0, 0.2, 0.3, 0.4, 0.5)  # 0: no veto
VETO_SWEEP = (0.7, 0.8, 0.9, 0.95, 0.98)
URGENT_SWEEP = (0.03, 0.05, 0.07, 1.01)  # 1.01: told as happening now counts for nothing
CLAUSE_SWEEP = (0.7, 0.8, 0.9)
CLEAR_SWEEP = (0.95, 0.98, 1.01)  # 1.01: a word naming the theme always needed
PRIMARY_SWEEP = (0.5, 0.8, 0.9)
MULTI_SWEEP = (0.3, 0.4, 0.5, 1.01)  # 1.01: the per-theme model not used for a side
TWO_SWEEP = (0.2, 0.3, 0.5, 1.01)
ALONE_SWEEP = (0.6, 0.7, 0.8, 0.9, 1.01)
OTHER_SWEEP = (
    0.3,
    0.35,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    1.01,
)  # 1.01: abuse and crime never alone
SCORE_SWEEP = (0.1, 0.12, 0.14, 0.15, 0.16, 0.17, 0.18, 0.2, 0.22, 0.25, 0.3, 0.4)


def pipeline_settings(config_path: Path) -> dict[str, dict]:
    """Each pipeline component's settings in config.yml, by its short class name."""
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    return {item["name"].rsplit(".", 1)[-1]: item for item in config["pipeline"]}


def cross_validation(data_dir: Path) -> int:
    """Print the cross-validated figures and sweeps; the last line sums them up."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.theme_classifier import SecondThemeRule, ThemeClassifier
    from bot.settings import get_settings

    settings = pipeline_settings(ROOT / "config.yml")
    intent, theme = settings["EmbeddingIntentClassifier"], settings["ThemeClassifier"]
    guard, fallback = settings["SafeguardingDetector"], settings["FallbackClassifier"]
    guard = {"class_weight": "balanced", **guard}
    critical, other = float(guard["critical_threshold"]), float(guard["other_threshold"])
    data = load_data(str(data_dir))
    encoder = cv_encoder(get_settings().encoder_dir)

    sure = float(guard.get("critical_sure_threshold", 0.0))
    veto = float(guard.get("view_veto_threshold", 1.01))
    urgent = float(guard.get("urgent_threshold", 1.01))
    examples = cross_validate_intents(data, encoder=encoder, intent=intent, safeguarding=guard)
    print("safeguarding, 5-fold cross-validation (critical = danger now and self-harm):")
    print("  critical  sure  veto  urgent  critical flagged  abuse/crime flagged  views flagged")
    rows = []
    for threshold in sorted({*CRITICAL_SWEEP, critical}):
        for sure_at in sorted({*SURE_SWEEP, sure}):
            for veto_at in sorted({*VETO_SWEEP, veto}) if sure_at > threshold else [1.01]:
                for urgent_at in sorted({*URGENT_SWEEP, urgent}):
                    got = safeguarding_cv(examples, threshold, other, sure_at, veto_at, urgent_at)
                    rows.append((threshold, sure_at, veto_at, urgent_at, got))
    best_views = 2.0
    for threshold, sure_at, veto_at, urgent_at, got in sorted(
        rows, key=lambda r: (-r[4]["critical"].rate, -r[4]["views"].rate)
    ):
        configured_row = (threshold, sure_at, veto_at, urgent_at) == (critical, sure, veto, urgent)
        views_flagged = 1 - got["views"].rate
        if views_flagged < best_views or configured_row:  # the best trade-offs
            best_views = min(best_views, views_flagged)
            mark = " <- config.yml" if configured_row else ""
            print(
                f"  {threshold:8.2f}  {sure_at:4.2f}  {veto_at:4.2f}  {urgent_at:6.2f}"
                f"  {got['critical'].rate:16.3f}  {got['other'].rate:19.3f}"
                f"  {views_flagged:13.3f}{mark}"
            )
    guarded = safeguarding_cv(examples, critical, other, sure, veto, urgent)
    for text in guarded["critical"].wrong:
        print(f"    missed: {text}")
    for text in guarded["views"].wrong:
        print(f"    view flagged: {text}")
    for text in guarded["rest"].wrong:
        print(f"    other example flagged: {text}")
    print("abuse and crime to report: other_threshold (config.yml's critical thresholds;")
    print("rest = greetings, questions, yes, stop... flagged):")
    print("  other  critical  abuse/crime  views flagged  rest flagged")
    for other_at in sorted({*OTHER_SWEEP, other}):
        got = safeguarding_cv(examples, critical, other_at, sure, veto, urgent)
        mark = " <- config.yml" if other_at == other else ""
        print(
            f"  {other_at:5.2f}  {got['critical'].rate:8.3f}  {got['other'].rate:11.3f}"
            f"  {1 - got['views'].rate:13.3f}  {1 - got['rest'].rate:12.3f}{mark}"
        )
    offtopic = offtopic_cv(
        examples,
        fallback=float(fallback["threshold"]),
        ambiguity=float(fallback["ambiguity_threshold"]),
        critical=critical,
        other=other,
        sure=sure,
        veto=veto,
        urgent=urgent,
    )
    print(f"off-topic not taken for a view: {offtopic.right}/{offtopic.total}")
    for text in offtopic.wrong:
        print(f"    wrong: {text}")

    views = cross_validate_themes(
        data,
        encoder=encoder,
        c=float(theme["C"]),
        embedding_weight=float(theme["embedding_weight"]),
        multi_c=float(theme.get("multi_C", 30.0)),
    )
    defaults = ThemeClassifier.get_default_config()
    configured = SecondThemeRule(
        **{key: float(theme.get(key, defaults[key])) for key in SecondThemeRule.__annotations__}
    )
    print("views about two things, 5-fold cross-validation (both found / single given two):")
    print("  clause  clear  primary_part  multi  two   alone  both   false_second")
    front: list[tuple[float, float, SecondThemeRule]] = []
    sweep = product(CLAUSE_SWEEP, CLEAR_SWEEP, PRIMARY_SWEEP, MULTI_SWEEP, TWO_SWEEP, ALONE_SWEEP)
    for clause, clear, primary, multi, two, alone_at in sweep:
        rule = SecondThemeRule(clause, max(clear, clause), primary, 0.0, multi, two, alone_at)
        both, alone = second_theme_cv(views, rule)
        front.append((1 - alone.rate, both.rate, rule))
    best = -1.0
    for false_second, both_rate, rule in sorted(front, key=lambda f: (f[0], -f[1])):
        if both_rate > best and false_second <= 0.1:  # the best trade-offs only
            best = both_rate
            print(
                f"  {rule.clause_threshold:6.2f}  {rule.clear_threshold:5.2f}"
                f"  {rule.primary_part_threshold:12.2f}  {rule.multi_threshold:5.2f}"
                f"  {rule.two_threshold:4.2f}  {rule.alone_threshold:5.2f}"
                f"  {both_rate:.3f}  {false_second:.3f}"
            )
    both, alone = second_theme_cv(views, configured)
    print(f"thresholds of config.yml: both {both.rate:.3f}, false second {1 - alone.rate:.3f}")
    print("the second-theme score, its weights fitted without the views judged (a second")
    print("level of 5 folds over the held-out views): threshold  both  false_second")
    score_at = float(theme.get("second_threshold", defaults["second_threshold"]))
    scored = second_theme_score_cv(views, sorted({*SCORE_SWEEP, score_at}))
    for threshold, (both_at, alone_at) in scored.items():
        mark = " <- config.yml" if theme.get("second_weights") and threshold == score_at else ""
        print(f"  {threshold:9.2f}  {both_at.rate:.3f}  {1 - alone_at.rate:.3f}{mark}")
    weights = ", ".join(f"{w:.2f}" for w in fit_second_theme_weights(views))
    print(f"  weights fitted on all the held-out views (second_weights): [{weights}]")
    if theme.get("second_weights"):
        both, alone = scored[score_at]
    print(
        f"cross-validation: critical_recall={guarded['critical'].rate:.3f} "
        f"other_recall={guarded['other'].rate:.3f} "
        f"false_alarm_views={1 - guarded['views'].rate:.3f} "
        f"false_alarm_rest={1 - guarded['rest'].rate:.3f} "
        f"offtopic_stored={offtopic.total - offtopic.right}/{offtopic.total} "
        f"two_themes={both.rate:.3f} false_second={1 - alone.rate:.3f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the figures; the last line sums them up."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument(
        "--model", type=Path, default=ROOT / "models" / "engage.tar.gz", help="the trained model"
    )
    options.add_argument("--cv", action="store_true", help="cross-validate on the training data")
    options.add_argument("--data", type=Path, default=ROOT / "data" / "nlu", help="with --cv")
    args = options.parse_args(argv)
    if args.cv:
        return cross_validation(args.data)
    parser = ThemeParser(args.model)
    guarded = safeguarding_results(parser, load_items(SPLITS / "safeguarding_test.yml", "kind"))
    for kind, result in guarded.items():
        what = "not flagged" if kind == "none" else "flagged"
        counted = f"{result.right:4d}/{result.total:<4d}"
        print(f"safeguarding {kind:13s} {counted} {what} ({result.rate:.3f})")
        for text in result.wrong:
            print(f"    wrong: {text}")
    single, _ = load_labelled(SPLITS / "themes_test.yml")
    ordinary = safeguarding_results(parser, [{"text": text, "kind": "none"} for text in single])[
        "none"
    ]
    print(f"ordinary views (themes split) not flagged: {ordinary.right}/{ordinary.total}")
    for text in ordinary.wrong:
        print(f"    wrong: {text}")
    offtopic = offtopic_results(parser, load_items(SPLITS / "offtopic_test.yml", "intent"))
    print(f"off-topic not taken for a view: {offtopic.right}/{offtopic.total}")
    for text in offtopic.wrong:
        print(f"    wrong: {text}")
    both, alone = multitheme_results(
        parser, load_items(SPLITS / "multitheme_test.yml", "themes"), single
    )
    print(f"two themes both found: {both.right}/{both.total} ({both.rate:.3f})")
    for text in both.wrong:
        print(f"    missed: {text}")
    print(f"single-theme views given a second theme: {alone.total - alone.right}/{alone.total}")
    for text in alone.wrong:
        print(f"    wrong: {text}")
    recall = min(guarded[k].rate for k in ("danger_now", "self_harm"))
    print(
        f"understanding: danger_self_harm_recall={recall:.3f} "
        f"false_alarm_views={1 - ordinary.rate:.3f} "
        f"false_alarm_hard={1 - guarded['none'].rate:.3f} "
        f"offtopic_stored={offtopic.total - offtopic.right} two_themes={both.rate:.3f} "
        f"false_second={1 - alone.rate:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
