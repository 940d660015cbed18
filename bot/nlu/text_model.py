"""A text classifier: sentence embeddings + TF-IDF n-grams into a logistic regression.

The intent and theme classifiers (Rasa components) are both one of these. Kept apart
from Rasa so it can be trained, evaluated and tested on its own. Saved as JSON plus a
numpy archive without pickled objects, so loading a model never runs code from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.nlu.embeddings import CachedEncoder, shared_encoder

FORMAT_VERSION = 1
# The embedding is one dense block against thousands of sparse n-gram columns: its
# weight sets how much it counts (config.yml sets it per component).
EMBEDDING_WEIGHT = 1.0
WORD_NGRAMS = {"analyzer": "word", "ngram_range": (1, 2), "min_df": 1}
CHAR_NGRAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2}


def _vectorizer(params: dict) -> TfidfVectorizer:
    return TfidfVectorizer(lowercase=True, sublinear_tf=True, dtype=np.float32, **params)


def _restore_vectorizer(
    params: dict, vocabulary: dict[str, int], idf: np.ndarray
) -> TfidfVectorizer:
    vectorizer = _vectorizer(params)
    vectorizer.vocabulary_ = vocabulary
    vectorizer.idf_ = idf
    return vectorizer


class NgramWeights:
    """A fitted TF-IDF vectorizer's weights for one text at a time, without sklearn's checks.

    sklearn's `transform` validates the fitted vectorizer, rebuilds the idf vector from
    a sparse diagonal and multiplies sparse matrices on every call: 1.1-1.5 ms for one
    SMS and one model, where the sums themselves take 0.2 ms. The same arithmetic in the
    same order (sublinear tf, idf, l2 norm; columns in the order sklearn's product leaves
    them), so the features are equal to sklearn's (tests/bot/nlu/test_text_model.py).
    """

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        if not (vectorizer.sublinear_tf and vectorizer.use_idf and vectorizer.norm == "l2"):
            raise ValueError("NgramWeights computes sublinear, idf-weighted, l2-normed TF-IDF")
        self._terms = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf: np.ndarray = vectorizer.idf_
        self.width = len(self._idf)

    def of(self, text: str) -> tuple[list[int], list[float]]:
        """The columns of `text`'s n-grams in the vocabulary and their weights."""
        counts: dict[int, int] = {}
        for term in self._terms(text):
            column = self._vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        # sklearn's product by the idf diagonal leaves a row's columns in reverse order,
        # and its l2 norm sums the squares in that order.
        columns = sorted(counts, reverse=True)
        tf = np.log(np.array([counts[c] for c in columns], dtype=np.float32))
        tf += np.float32(1)
        weights = tf.astype(self._idf.dtype) * self._idf[columns]
        squares = 0.0
        for square in (weights * weights).tolist():
            squares += square
        if squares:
            weights = (weights.astype(np.float64) / math.sqrt(squares)).astype(weights.dtype)
        return columns, weights.tolist()


def _weights(coef: np.ndarray) -> np.ndarray:
    # A sparse row times `coef.T` copies all of coef on every call, to lay it out and to
    # match the features' float64 (3.8 ms a message for the intent model); laid out so
    # once, the product costs 0.01 ms.
    return np.ascontiguousarray(coef.T, dtype=np.float64)


def _sigmoid(scores: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(scores, -50.0, 50.0)))


class Head:
    """Yes/no classifiers over a TextModel's features, one per label (one-vs-rest).

    An extra question about a text ("is it about housing, too?") costs one matrix
    product over features already computed.
    """

    def __init__(self, classes: list[str], coef: np.ndarray, intercept: np.ndarray) -> None:
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self._weights = _weights(coef)

    def probabilities(self, features: sparse.csr_matrix) -> list[dict[str, float]]:
        """Each text's probability of each label, independently of the others."""
        scores = _sigmoid(np.asarray(features @ self._weights + self.intercept))
        return [dict(zip(self.classes, map(float, row), strict=True)) for row in scores]


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


class TextModel:
    """A trained classifier: `rank(texts)` gives each text's labels, best first."""

    def __init__(
        self,
        encoder: CachedEncoder,
        word: TfidfVectorizer,
        char: TfidfVectorizer,
        classes: list[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        embedding_weight: float = EMBEDDING_WEIGHT,
        heads: dict[str, Head] | None = None,
    ) -> None:
        self.encoder = encoder
        self.word = word
        self.char = char
        self._ngrams = (NgramWeights(word), NgramWeights(char))
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self._weights = _weights(coef)
        self.embedding_weight = embedding_weight
        self.heads = heads or {}

    def features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The feature matrix for `texts`: `combined_features`, built row by row."""
        embeddings = self.encoder.encode(list(texts)) * self.embedding_weight
        indptr, columns, values = [0], [], []
        for text, embedding in zip(texts, embeddings, strict=True):
            nonzero = np.flatnonzero(embedding)
            columns += nonzero.tolist()
            values += embedding[nonzero].tolist()
            offset = embedding.shape[0]
            for ngrams in self._ngrams:
                block_columns, block_values = ngrams.of(text)
                columns += [column + offset for column in block_columns]
                values += block_values
                offset += ngrams.width
            indptr.append(len(columns))
        width = embeddings.shape[1] + sum(ngrams.width for ngrams in self._ngrams)
        return sparse.csr_matrix(
            (
                np.array(values, dtype=np.float64),
                np.array(columns, dtype=np.int32),
                np.array(indptr, dtype=np.int32),
            ),
            shape=(len(texts), width),
        )

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Label probabilities, one row per text, columns in `self.classes` order."""
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self._softmax_of(self.features(texts))

    def _softmax_of(self, features: sparse.csr_matrix) -> np.ndarray:
        return _softmax(np.asarray(features @ self._weights + self.intercept))

    def _ranked(self, probabilities: np.ndarray) -> list[list[tuple[str, float]]]:
        rankings = []
        for row in probabilities:
            order = np.argsort(-row, kind="stable")
            rankings.append([(self.classes[i], float(row[i])) for i in order])
        return rankings

    def rank(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each text's labels with their probabilities, most likely first."""
        return self._ranked(self.probabilities(texts))

    def analyse(
        self, texts: Sequence[str]
    ) -> tuple[list[list[tuple[str, float]]], list[dict[str, dict[str, float]]]]:
        """`rank(texts)` and each head's answers, from one computation of the features."""
        if not texts:
            return [], []
        features = self.features(texts)
        answers = {name: head.probabilities(features) for name, head in self.heads.items()}
        per_text = [{name: answers[name][i] for name in answers} for i in range(len(texts))]
        return self._ranked(self._softmax_of(features)), per_text

    def save(self, directory: Path) -> None:
        """Write the model to `directory` (JSON + .npz, no pickle)."""
        meta = {
            "format": FORMAT_VERSION,
            "classes": self.classes,
            "embedding_weight": self.embedding_weight,
            "word_vocabulary": {k: int(v) for k, v in self.word.vocabulary_.items()},
            "char_vocabulary": {k: int(v) for k, v in self.char.vocabulary_.items()},
            "heads": {name: head.classes for name, head in self.heads.items()},
        }
        (directory / "text_model.json").write_text(json.dumps(meta), encoding="utf-8")
        head_arrays = {}
        for name, head in self.heads.items():
            head_arrays[f"head_{name}_coef"] = head.coef
            head_arrays[f"head_{name}_intercept"] = head.intercept
        np.savez(
            directory / "text_model.npz",
            coef=self.coef,
            intercept=self.intercept,
            word_idf=self.word.idf_,
            char_idf=self.char.idf_,
            **head_arrays,
        )

    @classmethod
    def load(cls, directory: Path, encoder_dir: Path) -> TextModel:
        """Read a model saved by `save`; raises ValueError if there is none."""
        meta_path = directory / "text_model.json"
        if not meta_path.exists():
            raise ValueError(f"no trained model in {directory}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"model format {meta.get('format')} is not supported")
        with np.load(directory / "text_model.npz", allow_pickle=False) as arrays:
            coef, intercept = arrays["coef"], arrays["intercept"]
            word_idf, char_idf = arrays["word_idf"], arrays["char_idf"]
            heads = {
                name: Head(
                    list(classes), arrays[f"head_{name}_coef"], arrays[f"head_{name}_intercept"]
                )
                for name, classes in meta.get("heads", {}).items()
            }
        encoder = shared_encoder(encoder_dir)
        trained_with = coef.shape[1] - len(meta["word_vocabulary"]) - len(meta["char_vocabulary"])
        if trained_with != encoder.dimension:
            raise RuntimeError(
                f"This model was trained with a sentence encoder of {trained_with} dimensions, "
                f"but {encoder_dir} holds one of {encoder.dimension}: train it again "
                "(make train) with the encoder it will run with."
            )
        return cls(
            encoder=encoder,
            word=_restore_vectorizer(WORD_NGRAMS, meta["word_vocabulary"], word_idf),
            char=_restore_vectorizer(CHAR_NGRAMS, meta["char_vocabulary"], char_idf),
            classes=list(meta["classes"]),
            coef=coef,
            intercept=intercept,
            embedding_weight=float(meta["embedding_weight"]),
            heads=heads,
        )


def combined_features(
    encoder: CachedEncoder,
    word: TfidfVectorizer,
    char: TfidfVectorizer,
    texts: Sequence[str],
    embedding_weight: float,
) -> sparse.csr_matrix:
    """Embedding, word n-grams and character n-grams side by side."""
    embeddings = encoder.encode(list(texts)) * embedding_weight
    return sparse.hstack(
        [sparse.csr_matrix(embeddings), word.transform(texts), char.transform(texts)],
        format="csr",
    )


def train_text_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    encoder_dir: Path,
    c: float = 10.0,
    seed: int = 1,
    embedding_weight: float = EMBEDDING_WEIGHT,
    class_weight: str | None = None,
    encoder: CachedEncoder | None = None,
) -> TextModel:
    """Fit a model on labelled texts ("balanced" class weights favour rare labels).

    `encoder` replaces the process's shared one (cross-validation keeps every text's
    embedding in a larger cache of its own).
    """
    encoder = encoder or shared_encoder(encoder_dir)
    word = _vectorizer(WORD_NGRAMS).fit(texts)
    char = _vectorizer(CHAR_NGRAMS).fit(texts)
    features = combined_features(encoder, word, char, texts, embedding_weight)
    classifier = LogisticRegression(
        C=c, max_iter=5000, random_state=seed, class_weight=class_weight
    )
    classifier.fit(features, list(labels))
    return TextModel(
        encoder=encoder,
        word=word,
        char=char,
        classes=[str(c) for c in classifier.classes_],
        coef=classifier.coef_.astype(np.float32),
        intercept=classifier.intercept_.astype(np.float32),
        embedding_weight=embedding_weight,
    )


def train_head(
    model: TextModel,
    texts: Sequence[str],
    labels: Sequence[Sequence[str]],
    classes: Sequence[str],
    *,
    c: float,
    seed: int = 1,
) -> Head:
    """One yes/no classifier per class over `model`'s features: is the label among a text's?"""
    # Trained on sklearn's own transform of the whole batch, as the model itself is.
    features = combined_features(
        model.encoder, model.word, model.char, texts, model.embedding_weight
    )
    coefs, intercepts = [], []
    for label in classes:
        wanted = np.array([label in text_labels for text_labels in labels])
        fitted = LogisticRegression(C=c, max_iter=5000, random_state=seed).fit(features, wanted)
        coefs.append(fitted.coef_[0])
        intercepts.append(fitted.intercept_[0])
    return Head(
        [str(label) for label in classes],
        np.asarray(coefs, dtype=np.float32),
        np.asarray(intercepts, dtype=np.float32),
    )
