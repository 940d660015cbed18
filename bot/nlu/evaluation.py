"""Classifying texts with the trained Rasa model, and scoring themes against labels."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.pipeline import make_pipeline

from bot.themes import is_theme, theme_keys

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


def tfidf_baseline(texts: Sequence[str], labels: Sequence[str], seed: int = 1):  # type: ignore[no-untyped-def]
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
