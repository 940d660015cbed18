"""Classifying texts with the trained Rasa model, and scoring themes against labels."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.pipeline import Pipeline, make_pipeline

from bot.models import SafeguardingKind
from bot.themes import is_theme, theme_keys

if TYPE_CHECKING:
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.embeddings import CachedEncoder
    from bot.nlu.theme_classifier import SecondThemeRule, SecondThemeScore, Side

THEME_DATA_DIR = Path("data") / "nlu" / "themes"


@dataclass(frozen=True)
class Prediction:
    """A text's theme and the model's confidence in it."""

    text: str
    theme: str | None
    confidence: float


class ThemeParser:
    """The trained Rasa model, loaded in this process, used for its themes."""

    def __init__(self, model_path: Path) -> None:
        import logging

        from bot.quiet import import_rasa_quietly

        import_rasa_quietly()
        from rasa.core.agent import Agent
        from rasa.utils.common import configure_logging_and_warnings
        from rasa.utils.log_utils import configure_structlog

        # Our stdout is for results: Rasa's own messages go to stderr, warnings only.
        configure_logging_and_warnings(logging.WARNING)
        configure_structlog(logging.WARNING)
        self._agent = Agent.load(str(model_path))

    async def parse(self, text: str) -> dict:
        """The full NLU parse of one text (intent, theme, ranking...)."""
        return await self._agent.parse_message(text)

    def classify(self, texts: Sequence[str]) -> list[Prediction]:
        """Each text's theme as the full NLU pipeline predicts it."""

        async def _parse_all() -> list[Prediction]:
            results = []
            for text in texts:
                parsed = await self.parse(text)
                theme = parsed.get("theme") or {}
                results.append(
                    Prediction(text, theme.get("name"), round(float(theme.get("confidence", 0)), 4))
                )
            return results

        return asyncio.run(_parse_all())


def load_labelled(path: Path) -> tuple[list[str], list[str]]:
    """Read a YAML list of {text, theme}; raises ValueError on a malformed file."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a YAML list of {{text, theme}} items")
    texts, labels = [], []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f"{path}: item {number} needs a text")
        if not is_theme(item.get("theme")):
            raise ValueError(f"{path}: item {number} has unknown theme {item.get('theme')!r}")
        texts.append(item["text"])
        labels.append(item["theme"])
    return texts, labels


def load_training_views(data_dir: Path = THEME_DATA_DIR) -> tuple[list[str], list[str]]:
    """The theme-labelled training views, as the Rasa pipeline sees them."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.theme_classifier import theme_examples

    return theme_examples(load_data(str(data_dir)))


def tfidf_baseline(texts: Sequence[str], labels: Sequence[str], seed: int = 1) -> Pipeline:
    """The comparison baseline: TF-IDF word n-grams and logistic regression."""
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=5000, random_state=seed),
    )
    return model.fit(list(texts), list(labels))


@dataclass(frozen=True)
class Scores:
    """Per-theme precision, recall and F1, their macro average, and the confusion matrix."""

    labels: tuple[str, ...]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    macro_f1: float
    accuracy: float
    confusion: np.ndarray


def score(truth: Sequence[str], predicted: Sequence[str | None]) -> Scores:
    """Score predictions against the truth over the catalogue's themes."""
    labels = theme_keys()
    predicted = [p if p is not None else "(none)" for p in predicted]
    p, r, f, s = precision_recall_fscore_support(
        truth, predicted, labels=list(labels), zero_division=0
    )
    return Scores(
        labels=labels,
        precision=p,
        recall=r,
        f1=f,
        support=s,
        macro_f1=float(np.mean(f)),
        accuracy=float(np.mean([t == q for t, q in zip(truth, predicted, strict=True)])),
        confusion=confusion_matrix(truth, predicted, labels=list(labels)),
    )


def report(name: str, scores: Scores) -> str:
    """A plain-text report: per-theme table, macro-F1 and the confusion matrix."""
    width = max(len(label) for label in scores.labels)
    lines = [f"== {name}", f"{'theme':<{width}}  precision  recall     f1  support"]
    for i, label in enumerate(scores.labels):
        lines.append(
            f"{label:<{width}}  {scores.precision[i]:9.3f}  {scores.recall[i]:6.3f}"
            f"  {scores.f1[i]:5.3f}  {scores.support[i]:7d}"
        )
    lines.append(f"macro-F1: {scores.macro_f1:.3f}   accuracy: {scores.accuracy:.3f}")
    lines.append("confusion matrix (rows: true theme, columns: predicted, same order):")
    for i, label in enumerate(scores.labels):
        cells = " ".join(f"{n:3d}" for n in scores.confusion[i])
        lines.append(f"{label:<{width}}  {cells}")
    return "\n".join(lines)


# Understanding what a message is: safeguarding, off-topic, views about two things -------


def load_items(path: Path, required: str) -> list[dict]:
    """A YAML list of dicts, each with a text and `required`; ValueError if malformed."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("text"), str) and required in i for i in items
    ):
        raise ValueError(f"{path}: expected a YAML list of {{text, {required}}} items")
    return items


@dataclass(frozen=True)
class Understanding:
    """How the pipeline read held-out messages of one kind."""

    total: int
    right: int
    wrong: tuple[str, ...]  # the texts it got wrong

    @property
    def rate(self) -> float:
        """Right / total."""
        return self.right / self.total if self.total else 1.0


def _judge(pairs: list[tuple[str, bool]]) -> Understanding:
    wrong = tuple(text for text, ok in pairs if not ok)
    return Understanding(len(pairs), len(pairs) - len(wrong), wrong)


def parse_all(parser: ThemeParser, texts: Sequence[str]) -> list[dict]:
    """The full NLU parse of each text."""

    async def _all() -> list[dict]:
        return [await parser.parse(text) for text in texts]

    return asyncio.run(_all())


def safeguarding_results(parser: ThemeParser, items: list[dict]) -> dict[str, Understanding]:
    """Per kind (and "none"): how many were routed right. For "none", right = not flagged."""
    parsed = parse_all(parser, [i["text"] for i in items])
    by_kind: dict[str, list[tuple[str, bool]]] = {}
    for item, result in zip(items, parsed, strict=True):
        flagged = (result.get("safeguarding") or {}).get("kind")
        wanted = item["kind"]
        ok = flagged is None if wanted == "none" else flagged is not None
        by_kind.setdefault(wanted, []).append((item["text"], ok))
    return {kind: _judge(pairs) for kind, pairs in sorted(by_kind.items())}


def offtopic_results(parser: ThemeParser, items: list[dict]) -> Understanding:
    """Off-topic messages: right = not taken for a view (nor a safeguarding message)."""
    parsed = parse_all(parser, [i["text"] for i in items])
    return _judge(
        [
            (item["text"], (result.get("intent") or {}).get("name") != "share_view")
            for item, result in zip(items, parsed, strict=True)
        ]
    )


def multitheme_results(
    parser: ThemeParser, items: list[dict], single: Sequence[str]
) -> tuple[Understanding, Understanding]:
    """(views about two things: both themes found; single-theme views: no second theme)."""
    parsed = parse_all(parser, [i["text"] for i in items])
    both = _judge(
        [
            (item["text"], set(item["themes"]) <= {t["name"] for t in result.get("themes") or []})
            for item, result in zip(items, parsed, strict=True)
        ]
    )
    alone = _judge(
        [
            (text, len(result.get("themes") or []) < 2)
            for text, result in zip(single, parse_all(parser, single), strict=True)
        ]
    )
    return both, alone


# Cross-validation on the training data only: how config.yml's thresholds are chosen ----
#
# The held-out splits above say how well the model does; choosing a threshold on them
# would make them optimistic. These functions hold out each fifth of data/nlu in turn,
# train on the rest with the configured settings, and keep what the model said about the
# held-out examples, so that thresholds can be swept without retraining.

OFFTOPIC_INTENTS = frozenset(
    {"greet", "goodbye", "thank", "who_are_you", "out_of_scope", "help", "ask_about_service",
     "ask_news", "ask_rhythm"}
)  # fmt: skip
CRITICAL_KINDS = (SafeguardingKind.DANGER_NOW, SafeguardingKind.SELF_HARM)


@dataclass(frozen=True)
class HeldOutView:
    """What a theme model trained without it said about a view (and about its two sides)."""

    text: str
    themes: tuple[str, ...]  # as labelled; two for a view about two things
    ranking: list[tuple[str, float]]
    halves: list[tuple[Side, Side]]  # each cut's two sides, ranked on their own
    multi: dict[str, float]  # the per-theme yes/no model's probabilities
    two: float  # the "two things" model's probability


@dataclass(frozen=True)
class HeldOutExample:
    """What the intent and safeguarding models trained without it said about an example."""

    text: str
    intent: str
    intent_ranking: list[tuple[str, float]]  # the top two
    safeguarding_ranking: list[tuple[str, float]]
    view: float  # the intent model's probability that it is a view (share_view)


def cv_encoder(encoder_dir: Path) -> CachedEncoder:
    """A sentence encoder whose cache holds every text of a cross-validation run."""
    from bot.nlu.embeddings import CachedEncoder
    from bot.nlu.encoder import SentenceEncoder

    return CachedEncoder(SentenceEncoder.load(encoder_dir), max_entries=1_000_000)


def fold_of(text: str, stratum: str, folds: int, seed: int) -> int:
    """The fold an example belongs to: a function of its own text and stratum only.

    So adding or removing examples leaves every other example in its fold, and two
    versions of the training data are compared on the same folds. Texts that differ only
    in case or spacing share a fold (no near-copy is judged by a model trained on it).
    """
    normalised = " ".join(text.lower().split())
    key = f"{seed}\x1f{stratum}\x1f{normalised}".encode()
    return zlib.crc32(key) % folds


def _folds(
    strata: Sequence[str], folds: int, seed: int, texts: Sequence[str]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) indices of each fold, each example's fold from `fold_of`.

    Not stratified exactly: each stratum spreads over the folds as its hashes fall.
    """
    assigned = np.array(
        [fold_of(text, stratum, folds, seed) for text, stratum in zip(texts, strata, strict=True)]
    )
    return [(np.flatnonzero(assigned != k), np.flatnonzero(assigned == k)) for k in range(folds)]


def cross_validate_themes(
    training_data: TrainingData,
    *,
    encoder: CachedEncoder,
    c: float,
    embedding_weight: float,
    multi_c: float = 30.0,
    folds: int = 5,
    seed: int = 1,
) -> list[HeldOutView]:
    """Every theme-labelled view, as judged by a ThemeClassifier model trained without it."""
    from bot.nlu.text_model import train_text_model
    from bot.nlu.theme_classifier import (
        MULTI,
        TWO,
        ranked_cuts,
        single_theme,
        train_theme_heads,
        view_examples,
    )

    views = view_examples(training_data)
    strata = [f"{themes[0]}/{len(themes)}" for _, themes in views]
    held: list[HeldOutView] = []
    for train, test in _folds(strata, folds, seed, [text for text, _ in views]):
        learnt = single_theme([views[i] for i in train])
        model = train_text_model(
            [text for text, _ in learnt],
            [themes[0] for _, themes in learnt],
            encoder_dir=Path(),
            encoder=encoder,
            c=c,
            embedding_weight=embedding_weight,
            seed=seed,
        )
        model.heads = train_theme_heads(model, [views[i] for i in train], c=multi_c, seed=seed)
        texts = [views[i][0] for i in test]
        rankings, answers = model.analyse(texts)
        for i, ranking, answer, halves in zip(
            test, rankings, answers, ranked_cuts(model, texts), strict=True
        ):
            held.append(
                HeldOutView(
                    views[i][0],
                    tuple(views[i][1]),
                    ranking,
                    halves,
                    answer[MULTI],
                    answer[TWO][TWO],
                )
            )
    return held


def _second_theme_pairs(
    views: Sequence[HeldOutView], rule: SecondThemeRule | SecondThemeScore
) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Each view about two things (both found?) and about one (no second theme?)."""
    both, alone = [], []
    for view in views:
        second = rule.second_theme(view.ranking, view.halves, view.multi, view.two)
        found = {view.ranking[0][0]} | ({second[0]} if second else set())
        if len(view.themes) > 1:
            both.append((view.text, set(view.themes) <= found))
        else:
            alone.append((view.text, second is None))
    return both, alone


def second_theme_cv(
    views: Sequence[HeldOutView], rule: SecondThemeRule | SecondThemeScore
) -> tuple[Understanding, Understanding]:
    """(views about two things: both themes found; single-theme views: no second theme)."""
    both, alone = _second_theme_pairs(views, rule)
    return _judge(both), _judge(alone)


SCORE_C = 1.0  # the second-theme score's regularisation: seven weights, a few hundred views


def fit_second_theme_weights(views: Sequence[HeldOutView], seed: int = 1) -> tuple[float, ...]:
    """The second-theme score's weights (SIGNALS' order, then the intercept), fitted on views.

    Every theme other than a view's primary one is a candidate: a yes if the view is
    about two things and it is the other one, a no otherwise.
    """
    from bot.nlu.theme_classifier import second_theme_signals

    rows, wanted = [], []
    for view in views:
        signals = second_theme_signals(view.ranking, view.halves, view.multi, view.two)
        for key, row in signals.items():
            rows.append(row)
            wanted.append(len(view.themes) > 1 and key in view.themes)
    fitted = LogisticRegression(C=SCORE_C, max_iter=5000, random_state=seed)
    fitted.fit(np.array(rows), np.array(wanted))
    return (*(float(w) for w in fitted.coef_[0]), float(fitted.intercept_[0]))


def second_theme_score_cv(
    views: Sequence[HeldOutView], thresholds: Sequence[float], folds: int = 5, seed: int = 1
) -> dict[float, tuple[Understanding, Understanding]]:
    """The second-theme score at each threshold, its weights fitted without the judged views.

    The views are themselves held out from the theme models; the weights are fitted on
    four fifths of them and judged on the fifth, in turn (a second level of folds).
    """
    from bot.nlu.theme_classifier import SecondThemeScore

    strata = [f"{view.themes[0]}/{len(view.themes)}" for view in views]
    pairs: dict[float, tuple[list, list]] = {threshold: ([], []) for threshold in thresholds}
    for train, test in _folds(strata, folds, seed, [view.text for view in views]):
        weights = fit_second_theme_weights([views[i] for i in train], seed=seed)
        for threshold in thresholds:
            both, alone = _second_theme_pairs(
                [views[i] for i in test], SecondThemeScore(weights, threshold)
            )
            pairs[threshold][0].extend(both)
            pairs[threshold][1].extend(alone)
    return {threshold: (_judge(b), _judge(a)) for threshold, (b, a) in pairs.items()}


def cross_validate_intents(
    training_data: TrainingData,
    *,
    encoder: CachedEncoder,
    intent: dict,
    safeguarding: dict,
    folds: int = 5,
    seed: int = 1,
) -> list[HeldOutExample]:
    """Every intent example, as judged by intent and safeguarding models trained without it.

    `intent` and `safeguarding` hold each component's C, embedding_weight (and
    class_weight), as in config.yml.
    """
    from bot.nlu.safeguarding import VIEW_INTENT, safeguarding_examples
    from bot.nlu.text_model import train_text_model

    texts, kinds = safeguarding_examples(training_data)
    intents = [m.get("intent") for m in training_data.intent_examples]
    held: list[HeldOutExample | None] = [None] * len(texts)
    for train, test in _folds(intents, folds, seed, texts):
        models = [
            train_text_model(
                [texts[i] for i in train],
                [labels[i] for i in train],
                encoder_dir=Path(),
                encoder=encoder,
                c=float(settings.get("C", 10.0)),
                embedding_weight=float(settings.get("embedding_weight", 1.0)),
                class_weight=settings.get("class_weight"),
                seed=seed,
            )
            for labels, settings in ((intents, intent), (kinds, safeguarding))
        ]
        tested = [texts[i] for i in test]
        for i, by_intent, by_kind in zip(
            test, models[0].rank(tested), models[1].rank(tested), strict=True
        ):
            view = dict(by_intent).get(VIEW_INTENT, 0.0)
            held[i] = HeldOutExample(texts[i], intents[i], by_intent[:2], by_kind, view)
    return [example for example in held if example is not None]


def _flagged(
    example: HeldOutExample,
    critical: float,
    other: float,
    sure: float,
    veto: float,
    urgent: float = 1.01,
) -> bool:
    """Whether the safeguarding detector flags `example` at these thresholds."""
    from bot.nlu.safeguarding import assess

    found = assess(
        example.safeguarding_ranking,
        example.text,
        critical,
        other,
        view=example.view,
        sure=sure,
        veto=veto,
        urgent=urgent,
    )
    return found is not None


def safeguarding_cv(
    examples: Sequence[HeldOutExample],
    critical: float,
    other: float,
    sure: float = 0.0,
    veto: float = 1.01,
    urgent: float = 1.01,
) -> dict[str, Understanding]:
    """Danger now and self-harm ("critical"), abuse and crime ("other") flagged; views not.

    "rest": every other example (greetings, questions, yes, stop...), right when not
    flagged: the nearest the training data has to the held-out hard negatives.
    """
    groups: dict[str, list[tuple[str, bool]]] = {
        "critical": [],
        "other": [],
        "views": [],
        "rest": [],
    }
    for example in examples:
        flagged = _flagged(example, critical, other, sure, veto, urgent)
        if example.intent in CRITICAL_KINDS:
            groups["critical"].append((example.text, flagged))
        elif example.intent in ("abuse", "crime_report"):
            groups["other"].append((example.text, flagged))
        elif example.intent == "share_view":
            groups["views"].append((example.text, not flagged))
        else:
            groups["rest"].append((example.text, not flagged))
    return {name: _judge(pairs) for name, pairs in groups.items()}


def offtopic_cv(
    examples: Sequence[HeldOutExample],
    *,
    fallback: float,
    ambiguity: float,
    critical: float,
    other: float,
    sure: float = 0.0,
    veto: float = 1.01,
    urgent: float = 1.01,
) -> Understanding:
    """Off-topic examples: right = not taken for a view (FallbackClassifier's thresholds)."""
    pairs = []
    for example in examples:
        if example.intent not in OFFTOPIC_INTENTS:
            continue
        (top, p), *rest = example.intent_ranking
        second = rest[0][1] if rest else 0.0
        stored = (
            top == "share_view"
            and p >= fallback
            and p - second >= ambiguity
            and not _flagged(example, critical, other, sure, veto, urgent)
        )
        pairs.append((example.text, not stored))
    return _judge(pairs)
