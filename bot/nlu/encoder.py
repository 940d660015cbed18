"""Pure-numpy sentence encoder for sentence-transformers/all-MiniLM-L6-v2.

Reproduces the model's tokenizer (BERT uncased WordPiece, as in its tokenizer.json)
and forward pass (6-layer BERT, attention-masked mean pooling, L2 normalisation)
without PyTorch. Model files come from ``bot.nlu.encoder_assets.ensure_encoder``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

MAX_SEQ_LENGTH = 256  # sentence-transformers max_seq_length for all-MiniLM-L6-v2
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_control(ch: str) -> bool:
    """Control/format/private-use chars (Cc, Cf, Co) except tab, newline, carriage return.

    Like HF tokenizers (and unlike the slow BertTokenizer) unassigned (Cn) chars are kept,
    so emoji newer than Python's Unicode tables still become [UNK] rather than vanish.
    """
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def _is_whitespace(ch: str) -> bool:
    """BERT's whitespace test."""
    return ch in "\t\n\r " or ch.isspace()


def _is_cjk(ch: str) -> bool:
    """True for CJK unified ideographs (which BERT splits into single-char words)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(ch: str) -> bool:
    """BERT's punctuation test: all non-alphanumeric printable ASCII, plus Unicode P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _lowercase(text: str) -> str:
    """Lower-case char by char, like HF tokenizers (no context-dependent final sigma)."""
    if text.isascii():
        return text.lower()
    return "".join(ch.lower() for ch in text)


class WordPieceTokenizer:
    """BERT uncased tokenizer matching the model's tokenizer.json (BertNormalizer + WordPiece).

    Ids equal HF's fast tokenizer except on a few hundred rare code points (historic and
    minority-script marks/punctuation added after Unicode 8), where HF's Rust tables are older
    than Python's ``unicodedata``.
    """

    def __init__(
        self, vocab: dict[str, int], max_length: int = MAX_SEQ_LENGTH, max_chars_per_word: int = 100
    ) -> None:
        self.vocab = vocab
        self.max_length = max_length
        self.max_chars_per_word = max_chars_per_word
        self.unk_id = vocab["[UNK]"]
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self.pad_id = vocab["[PAD]"]

    @classmethod
    def from_vocab_file(cls, path: Path, max_length: int = MAX_SEQ_LENGTH) -> WordPieceTokenizer:
        """Load a BERT vocab.txt (one token per line, id = line number)."""
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return cls({tok: i for i, tok in enumerate(lines)}, max_length=max_length)

    @staticmethod
    def normalize(text: str) -> str:
        """Clean text, space out CJK chars, strip accents and lower-case (BertNormalizer)."""
        out = []
        for ch in text:
            if ch in "\x00\ufffd" or _is_control(ch):
                continue
            if _is_whitespace(ch):
                out.append(" ")
            elif _is_cjk(ch):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out))
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        return _lowercase(text)

    @staticmethod
    def pre_tokenize(text: str) -> list[str]:
        """Split normalised text on whitespace and isolate each punctuation char."""
        words: list[str] = []
        for chunk in text.split():
            start = 0
            for i, ch in enumerate(chunk):
                if _is_punctuation(ch):
                    if i > start:
                        words.append(chunk[start:i])
                    words.append(ch)
                    start = i + 1
            if start < len(chunk):
                words.append(chunk[start:])
        return words

    def wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first WordPiece ids for one word ([UNK] if it cannot be split)."""
        if len(word) > self.max_chars_per_word:
            return [self.unk_id]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk_id]
            start = end
        return ids

    def tokenize(self, text: str) -> list[int]:
        """Token ids without [CLS]/[SEP] and without truncation."""
        ids: list[int] = []
        for part in _SPECIAL_RE.split(text):  # literal special tokens are kept whole
            if part in SPECIAL_TOKENS:
                ids.append(self.vocab[part])
                continue
            for word in self.pre_tokenize(self.normalize(part)):
                ids.extend(self.wordpiece(word))
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids with [CLS] ... [SEP], truncated to max_length."""
        ids = self.tokenize(text)[: self.max_length - 2]
        return [self.cls_id, *ids, self.sep_id]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


# Rational approximation erf(x) ~ x*P(x^2)/Q(x^2) on [-4, 4] (the one Eigen/XLA use for
# float32). Evaluated in float64 its max abs error is < 7e-8 (checked against scipy's erf).
_ERF_P = (
    -2.72614225801306e-10,
    2.77068142495902e-08,
    -2.10102402082508e-06,
    -5.69250639462346e-05,
    -7.34990630326855e-04,
    -2.95459980854025e-03,
    -1.60960333262415e-02,
)
_ERF_Q = (
    -1.45660718464996e-05,
    -2.13374055278905e-04,
    -1.68282697438203e-03,
    -7.37332916720468e-03,
    -1.42647390514189e-02,
)


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorised erf in pure numpy (float64 internally), accurate to 1e-7."""
    x = np.clip(x, -4.0, 4.0, dtype=np.float64)
    x2 = x * x
    p = np.full_like(x, _ERF_P[0])
    for c in _ERF_P[1:]:
        p *= x2
        p += c
    q = np.full_like(x, _ERF_Q[0])
    for c in _ERF_Q[1:]:
        q *= x2
        q += c
    p *= x
    p /= q
    return p


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf-based) GELU, as in BERT's hidden_act="gelu"."""
    return (0.5 * x * (1.0 + _erf(x * 0.7071067811865476))).astype(np.float32)


# glibc's mallopt parameters (malloc.h) and the values its own dynamic rule reaches at most.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 2 * _MMAP_THRESHOLD


def keep_temporaries_on_the_heap() -> bool:
    """Have glibc serve the forward pass's temporaries from the heap, not fresh mmaps.

    Each layer's intermediate arrays are hundreds of KB. By default glibc maps those above
    its mmap threshold afresh, and gives the freed top of the heap back to the system once
    it exceeds twice the largest block freed so far, so each message faulted its pages in
    again: about 4,900 page faults a message in the NLU pipeline, 8 ms on average and
    40-50 on a long message (docs/BENCHMARKS.md). Fixed thresholds (glibc's own upper
    bounds) keep them; process-wide. False where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


class SentenceEncoder:
    """all-MiniLM-L6-v2 forward pass in numpy: BERT + masked mean pooling + L2 norm."""

    def __init__(
        self, weights: dict[str, np.ndarray], config: dict, tokenizer: WordPieceTokenizer
    ) -> None:
        self.w = {
            k.removeprefix("bert."): np.asarray(v, dtype=np.float32)
            for k, v in weights.items()
            if v.dtype.kind == "f"  # skips the int64 position_ids buffer
        }
        self.tokenizer = tokenizer
        self.num_layers = int(config["num_hidden_layers"])
        self.num_heads = int(config["num_attention_heads"])
        self.hidden_size = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported hidden_act {config['hidden_act']!r}")

    @classmethod
    def load(cls, model_dir: Path) -> SentenceEncoder:
        """Load weights, config.json and vocab.txt from a model directory."""
        model_dir = Path(model_dir)
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        max_length = min(MAX_SEQ_LENGTH, int(config.get("max_position_embeddings", 512)))
        tokenizer = WordPieceTokenizer.from_vocab_file(model_dir / "vocab.txt", max_length)
        keep_temporaries_on_the_heap()
        return cls(load_file(str(model_dir / "model.safetensors")), config, tokenizer)

    @property
    def dimension(self) -> int:
        """Embedding size (384)."""
        return self.hidden_size

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        """Linear layer ``x @ W.T + b`` using PyTorch weight layout."""
        weight = self.w[f"{name}.weight"]
        flat = x.reshape(-1, x.shape[-1]) @ weight.T  # one 2-D GEMM: far faster than 3-D matmul
        flat += self.w[f"{name}.bias"]
        return flat.reshape(*x.shape[:-1], weight.shape[0])

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return last hidden states (batch, seq, hidden) for padded ids and 0/1 mask."""
        w, (batch, seq) = self.w, ids.shape
        heads, head_dim = self.num_heads, self.hidden_size // self.num_heads
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:seq]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min)
        bias = bias.astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def split_heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)

        for i in range(self.num_layers):
            p = f"encoder.layer.{i}"
            q = split_heads(self._dense(x, f"{p}.attention.self.query"))
            k = split_heads(self._dense(x, f"{p}.attention.self.key"))
            v = split_heads(self._dense(x, f"{p}.attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, self.hidden_size)
            x = _layer_norm(
                x + self._dense(ctx, f"{p}.attention.output.dense"),
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
                self.eps,
            )
            h = _gelu(self._dense(x, f"{p}.intermediate.dense"))
            x = _layer_norm(
                x + self._dense(h, f"{p}.output.dense"),
                w[f"{p}.output.LayerNorm.weight"],
                w[f"{p}.output.LayerNorm.bias"],
                self.eps,
            )
        return x

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Return L2-normalised mean-pooled float32 embeddings of shape (len(texts), 384)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        encoded = [self.tokenizer.encode(t) for t in texts]
        out = np.zeros((len(encoded), self.hidden_size), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            seq = max(len(encoded[i]) for i in idx)
            ids = np.full((len(idx), seq), self.tokenizer.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), seq), dtype=np.float32)
            for row, i in enumerate(idx):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1.0
            hidden = self._forward(ids, mask)
            pooled = (hidden * mask[:, :, None]).sum(axis=1)
            pooled /= np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[idx] = pooled / norms
        return out
