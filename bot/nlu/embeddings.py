"""One sentence encoder per process, with a cache: the intent and theme classifiers share it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.nlu.encoder import SentenceEncoder


class CachedEncoder:
    """Wraps a SentenceEncoder so that a text encoded twice is computed once."""

    def __init__(self, encoder: SentenceEncoder, max_entries: int = 8192) -> None:
        self._encoder = encoder
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """Embedding size."""
        return self._encoder.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts` (n, dimension), computing only those not seen recently."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = self._encoder.encode(missing)
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._cache[text] = vector
                    self._cache.move_to_end(text)
                while len(self._cache) > self._max_entries:
                    self._cache.popitem(last=False)
        with self._lock:
            cached = [self._cache.get(t) for t in texts]
        rows = [row for row in cached if row is not None]
        if len(rows) < len(cached):  # evicted meanwhile: rare, just recompute
            return self._encoder.encode(list(texts))
        return np.stack(rows) if rows else np.zeros((0, self.dimension), np.float32)


_encoders: dict[Path, CachedEncoder] = {}
_lock = threading.Lock()


def shared_encoder(model_dir: Path) -> CachedEncoder:
    """The process's encoder for `model_dir`, loaded on first use."""
    key = Path(model_dir).resolve()
    with _lock:
        if key not in _encoders:
            if not (key / "model.safetensors").exists():
                raise FileNotFoundError(
                    f"The sentence encoder is missing from {key}. Run `make install` "
                    "(or python -m bot.nlu.encoder_assets DIR) to fetch it."
                )
            _encoders[key] = CachedEncoder(SentenceEncoder.load(key))
        return _encoders[key]
