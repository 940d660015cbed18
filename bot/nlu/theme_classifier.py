"""Rasa NLU component: the theme of a resident's message, with a confidence.

Trained on the `share_view` examples, whose intent metadata names their theme
(data/nlu/themes/<key>.yml). Every message gets `theme` ({name, confidence}) and
`theme_ranking` in its parse data; the dialogue uses them only where a view is expected.

A message about two things ("the tram is always late and there's dog mess everywhere")
also gets its second theme. The message is cut in two at each clause break ("and",
"also", a comma...); a cut whose one side is clearly about the primary theme
(`primary_part_threshold`) and whose other side is about another theme on its own
(`clause_threshold`), with a word that names that theme and no other (the catalogue's
lexicon, `bot.corrections.theme_words`) or very clearly (`clear_threshold`), adds it.
Two yes/no models over the theme classifier's features, trained on the views about
two things as well (example metadata `themes: [a, b]`), help: one per theme ("is it
about this theme, too?", `multi_threshold` stands in for the naming word, and
`alone_threshold` adds its best non-primary theme without a cut), and one "is it about
two things?" (`two_threshold` also stands in for the naming word). `themes` lists the
primary theme first. The softmax classifier of the primary theme learns the views about
one thing only (`single_theme`).

With `second_weights` set, the thresholds give way to a weighted sum of the same
signals (`SecondThemeScore`): a side that is only fairly sure of its theme can still add
it when the yes/no models agree, and a very sure side can fail when nothing else does.
The weights are a logistic regression fitted by cross-validation on what models trained
without each view said about it (`bench/understanding.py --cv`), like the thresholds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_EXAMPLE, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.corrections import named_themes
from bot.nlu.component_base import TextModelComponent
from bot.nlu.text_model import Head, TextModel, train_head
from bot.themes import theme_keys

VIEW_INTENT = "share_view"
THEME = "theme"
THEME_RANKING = "theme_ranking"
THEMES = "themes"
MULTI = "per_theme"  # the head: is the view about this theme (too)?
TWO = "two"  # the head: is the view about two things?
OFF = 1.01  # a probability threshold never reached
MIN_CLAUSE_WORDS = 3
MAX_CUTS = 12  # the training and held-out messages have at most 9
# Where a message may turn to something else: punctuation, a line break, a spaced dash,
# "&" or "+", and words that join clauses. Several in a row (", and also") are one break.
_SEPARATOR = (
    r"(?:[.;:!?]+(?=\s)|\n|,|(?<=\s)[-&+](?=\s)|\band also\b|\balso\b|\bplus\b|\band\b"
    r"|\bbut\b|\bas well as\b|\bnot to mention\b|\bon top of that\b|\banother thing\b"
    r"|\bas for\b)"
)
_CLAUSE_BREAK = re.compile(rf"\s*(?:{_SEPARATOR}\s*)+", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _named(text: str) -> frozenset[str]:
    """`named_themes`, remembered (cross-validation asks about each side many times)."""
    return frozenset(named_themes(text))


def cuts(text: str) -> list[tuple[str, str]]:
    """The ways of cutting a message in two at a clause break (3+ words a side).

    At most MAX_CUTS, spread evenly over the message: each side is encoded whole, and a
    long list of short clauses would otherwise cost the NLU seconds.
    """
    found = []
    for match in _CLAUSE_BREAK.finditer(text):
        before, after = text[: match.start()].strip(), text[match.end() :].strip()
        if len(before.split()) >= MIN_CLAUSE_WORDS and len(after.split()) >= MIN_CLAUSE_WORDS:
            found.append((before, after))
    if len(found) > MAX_CUTS:
        step = len(found) / MAX_CUTS
        found = [found[int(i * step)] for i in range(MAX_CUTS)]
    return found


@dataclass(frozen=True)
class Side:
    """One side of a cut message, with the theme the classifier gives it on its own."""

    text: str
    theme: str
    confidence: float


@dataclass(frozen=True)
class SecondThemeRule:
    """When one side of a cut adds its theme to the primary one (config.yml's thresholds)."""

    clause_threshold: float  # the other side's own theme at least this likely
    clear_threshold: float  # ... and this likely, or a word of it names that theme
    primary_part_threshold: float  # the primary side's theme at least this likely
    message_threshold: float = 0.0  # the whole message's probability of the second theme
    multi_threshold: float = OFF  # ... or the per-theme model this sure of the side's theme
    two_threshold: float = OFF  # ... or the "two things" model this sure
    alone_threshold: float = OFF  # no cut needed when the per-theme model is this sure

    def second_theme(
        self,
        ranking: list[tuple[str, float]],
        halves: list[tuple[Side, Side]],
        multi: dict[str, float] | None = None,
        two: float = 0.0,
    ) -> tuple[str, float] | None:
        """The clearest other theme of a cut's one side when its other side is the primary.

        `multi` (each theme's probability from the per-theme model) and `two` (the "two
        things" model's) are the message's; without them, only the cut rule applies.
        """
        if not ranking:
            return None
        primary = ranking[0][0]
        overall = dict(ranking)
        multi = multi or {}
        found = []
        for first, second in halves:
            if first.theme == second.theme or primary not in (first.theme, second.theme):
                continue
            base, other = (first, second) if first.theme == primary else (second, first)
            if (
                base.confidence >= self.primary_part_threshold
                and other.confidence >= self.clause_threshold
                and overall.get(other.theme, 0.0) >= self.message_threshold
                and (
                    other.confidence >= self.clear_threshold
                    or multi.get(other.theme, 0.0) >= self.multi_threshold
                    or two >= self.two_threshold
                    or other.theme in _named(other.text)
                )
            ):
                found.append((other.theme, other.confidence))
        if found:
            return max(found, key=lambda kp: kp[1])
        others = [(key, p) for key, p in multi.items() if key != primary]
        if others:
            key, p = max(others, key=lambda kp: kp[1])
            if p >= self.alone_threshold:
                return key, p
        return None


# What the second-theme score weighs, per candidate theme (the weights follow this order,
# then the intercept): the other side's confidence in it, the primary side's in the
# primary theme (both 0 when no cut has such sides), the per-theme model's probability of
# it, the "two things" model's, whether a word of the side names it, the whole message's
# probability of it, and whether a cut has such sides at all.
SIGNALS = ("side", "primary_side", "per_theme", "two", "named", "message", "cut")


def _logit(p: float) -> float:
    """log(p / (1 - p)), with p kept off 0 and 1."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sureness(base: Side, other: Side) -> float:
    """How sure a cut's two sides are of their themes, together (in logits)."""
    return _logit(base.confidence) + _logit(other.confidence)


def second_theme_signals(
    ranking: list[tuple[str, float]],
    halves: list[tuple[Side, Side]],
    multi: dict[str, float],
    two: float,
) -> dict[str, tuple[float, ...]]:
    """Each theme other than the primary one with its signals (SIGNALS' order).

    Of the cuts whose one side is the primary theme and whose other side is this one,
    the one whose two sides are surest counts.
    """
    if not ranking:
        return {}
    primary = ranking[0][0]
    overall = dict(ranking)
    best: dict[str, tuple[Side, Side]] = {}
    for first, second in halves:
        if first.theme == second.theme or primary not in (first.theme, second.theme):
            continue
        base, other = (first, second) if first.theme == primary else (second, first)
        kept = best.get(other.theme)
        if kept is None or _sureness(base, other) > _sureness(*kept):
            best[other.theme] = (base, other)
    signals: dict[str, tuple[float, ...]] = {}
    for key, p in overall.items():
        if key == primary:
            continue
        cut = best.get(key)
        side, primary_side, named = (
            (_logit(cut[1].confidence), _logit(cut[0].confidence), key in _named(cut[1].text))
            if cut
            else (0.0, 0.0, False)
        )
        signals[key] = (
            side,
            primary_side,
            _logit(multi.get(key, 0.0)),
            _logit(two),
            float(named),
            _logit(p),
            float(cut is not None),
        )
    return signals


@dataclass(frozen=True)
class SecondThemeScore:
    """A second theme when a weighted sum of its signals is likely enough (config.yml's)."""

    weights: tuple[float, ...]  # one per SIGNALS, then the intercept
    threshold: float

    def score(self, signals: tuple[float, ...]) -> float:
        """The probability the weights give that the view is about this theme, too."""
        pairs = zip(self.weights[:-1], signals, strict=True)
        total = self.weights[-1] + sum(w * x for w, x in pairs)
        return 1.0 / (1.0 + math.exp(-min(max(total, -50.0), 50.0)))

    def second_theme(
        self,
        ranking: list[tuple[str, float]],
        halves: list[tuple[Side, Side]],
        multi: dict[str, float] | None = None,
        two: float = 0.0,
    ) -> tuple[str, float] | None:
        """The likeliest other theme, if its score reaches the threshold."""
        scored = [
            (key, self.score(signals))
            for key, signals in second_theme_signals(ranking, halves, multi or {}, two).items()
        ]
        if not scored:
            return None
        key, p = max(scored, key=lambda kp: kp[1])
        return (key, p) if p >= self.threshold else None


def ranked_cuts(model: TextModel, texts: list[str]) -> list[list[tuple[Side, Side]]]:
    """Each text's cuts, each side with the theme `model` gives it on its own."""
    per_text = [cuts(text) for text in texts]
    sides = list(dict.fromkeys(side for pairs in per_text for pair in pairs for side in pair))
    tops = {
        side: Side(side, *ranking[0])
        for side, ranking in zip(sides, model.rank(sides) if sides else [], strict=True)
    }
    return [[(tops[a], tops[b]) for a, b in pairs] for pairs in per_text]


def _example_themes(message: Message, known: set[str]) -> list[str]:
    """The themes a share_view example is labelled with: its own list, or its intent's."""
    metadata = message.get(METADATA) or {}
    several = (metadata.get(METADATA_EXAMPLE) or {}).get(THEMES)
    themes = several if several is not None else [(metadata.get(METADATA_INTENT) or {}).get(THEME)]
    if not isinstance(themes, list) or not themes or len(set(themes)) < len(themes):
        raise ValueError(
            f"share_view example {message.get(TEXT)!r} has themes {themes!r}: "
            "expected a list of different theme keys"
        )
    for theme in themes:
        if theme not in known:
            raise ValueError(
                f"share_view example {message.get(TEXT)!r} has theme {theme!r}, "
                "which is not in data/themes.yml"
            )
    return themes


def primary_theme(message: Message) -> str:
    """The theme a share_view example is labelled with first."""
    return _example_themes(message, set(theme_keys()))[0]


def view_examples(training_data: TrainingData) -> list[tuple[str, list[str]]]:
    """Each theme-labelled view of the training data with its theme(s), the first primary."""
    known = set(theme_keys())
    return [
        (message.get(TEXT), _example_themes(message, known))
        for message in training_data.intent_examples
        if message.get(INTENT) == VIEW_INTENT
    ]


def single_theme(views: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """The views about one thing: what the classifier learns from.

    Views about two things are left out of its training: learnt under both themes (at
    full or half weight), they drew long single-theme views to their second theme
    (themes split macro-F1 0.898 against 0.913 without them; docs/BENCHMARKS.md). They
    still teach the intent, and cross-validation chooses the second-theme rule on them.
    """
    return [(text, themes) for text, themes in views if len(themes) == 1]


def train_theme_heads(
    model: TextModel, views: list[tuple[str, list[str]]], *, c: float, seed: int
) -> dict[str, Head]:
    """The per-theme and "two things" yes/no models, over `model`'s features, on all views."""
    texts = [text for text, _ in views]
    return {
        MULTI: train_head(
            model, texts, [themes for _, themes in views], theme_keys(), c=c, seed=seed
        ),
        TWO: train_head(
            model,
            texts,
            [[TWO] if len(themes) > 1 else [] for _, themes in views],
            [TWO],
            c=c,
            seed=seed,
        ),
    }


def theme_examples(training_data: TrainingData) -> tuple[list[str], list[str]]:
    """The texts and theme keys the theme classifier learns from (views about one thing)."""
    views = single_theme(view_examples(training_data))
    return [text for text, _ in views], [themes[0] for _, themes in views]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class ThemeClassifier(TextModelComponent):
    """Adds `theme`, `theme_ranking` and `themes` to every parsed message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The shared defaults and the second-theme thresholds."""
        return {
            **TextModelComponent.get_default_config(),
            "clause_threshold": 0.8,
            "clear_threshold": 0.98,
            "primary_part_threshold": 0.8,
            "message_threshold": 0.0,
            "multi_threshold": OFF,
            "two_threshold": OFF,
            "alone_threshold": OFF,
            "multi_C": 30.0,
            "second_weights": [],  # empty: the thresholds above decide
            "second_threshold": 0.5,
        }

    def examples(self, training_data: TrainingData) -> tuple[list[str], list[str]]:
        """The theme-labelled views."""
        return theme_examples(training_data)

    def heads(self, training_data: TrainingData, model: TextModel) -> dict[str, Head]:
        """The per-theme and "two things" models, when a threshold of config.yml uses them."""
        rule = self.rule()
        if isinstance(rule, SecondThemeRule) and (
            min(rule.multi_threshold, rule.two_threshold, rule.alone_threshold) >= OFF
        ):
            return {}
        return train_theme_heads(
            model,
            view_examples(training_data),
            c=float(self._config["multi_C"]),
            seed=int(self._config["random_seed"]),
        )

    def annotate(
        self,
        message: Message,
        ranking: list[tuple[str, float]],
        answers: dict[str, dict[str, float]],
    ) -> None:
        """Set the most likely theme and the full ranking (`process` uses the answers)."""
        items = [{"name": key, "confidence": round(p, 4)} for key, p in ranking]
        message.set(THEME, items[0], add_to_output=True)
        message.set(THEME_RANKING, items, add_to_output=True)
        message.set(THEMES, items[:1], add_to_output=True)

    def rule(self) -> SecondThemeRule | SecondThemeScore:
        """The second-theme weights, or thresholds, this component was configured with."""
        weights = self._config.get("second_weights") or []
        if weights:
            if len(weights) != len(SIGNALS) + 1:
                raise ValueError(
                    f"second_weights needs {len(SIGNALS) + 1} numbers ({', '.join(SIGNALS)}, "
                    f"then the intercept), not {len(weights)}"
                )
            return SecondThemeScore(
                tuple(float(w) for w in weights), float(self._config["second_threshold"])
            )
        return SecondThemeRule(
            clause_threshold=float(self._config["clause_threshold"]),
            clear_threshold=float(self._config["clear_threshold"]),
            primary_part_threshold=float(self._config["primary_part_threshold"]),
            message_threshold=float(self._config["message_threshold"]),
            multi_threshold=float(self._config["multi_threshold"]),
            two_threshold=float(self._config["two_threshold"]),
            alone_threshold=float(self._config["alone_threshold"]),
        )

    def process(self, messages: list[Message]) -> list[Message]:
        """The theme of each message, then a second theme from its two sides, if any."""
        if self._model is None or not messages:
            return messages
        rule = self.rule()
        texts = [message.get(TEXT) or "" for message in messages]
        rankings, answers = self._model.analyse(texts)
        halves_per_text = ranked_cuts(self._model, texts)
        for message, ranking, answer, halves in zip(
            messages, rankings, answers, halves_per_text, strict=True
        ):
            self.annotate(message, ranking, answer)
            second = rule.second_theme(
                ranking, halves, answer.get(MULTI), answer.get(TWO, {}).get(TWO, 0.0)
            )
            if second is not None:
                key, p = second
                second_item = {"name": key, "confidence": round(p, 4)}
                message.set(THEMES, [message.get(THEME), second_item], add_to_output=True)
        return messages
