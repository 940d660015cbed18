"""Benchmark: the trained NLU pipeline in-process (what `engage themes classify` runs).

Measures model load time, resident memory after loading, and messages per second and
per-message latency over the held-out test split, one message at a time; then the same
messages again with their sentence embeddings cached (everything but the encoder, as for
a short reply like "yes" or "done" that many residents send).

Usage: .venv/bin/python bench/nlu.py [MODEL]
Last line: `nlu: load_s=<s> rss_mb=<n> msgs_per_s=<n> p50_ms=<n> p95_ms=<n>`
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Load the model, parse every test message twice (warm-up, then timed)."""
    import asyncio

    from bot.nlu.evaluation import ThemeParser, load_labelled

    logging.disable(logging.WARNING)
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "engage.tar.gz"
    texts, _ = load_labelled(ROOT / "tests" / "nlu" / "themes_test.yml")
    started = time.perf_counter()
    parser = ThemeParser(model)
    load_s = time.perf_counter() - started
    parser.classify(texts[:20])  # warm-up

    # Fresh texts each time so the encoder cache cannot help.
    variants = [f"{t} ({i})" for i, t in enumerate(texts)]

    async def _timed() -> np.ndarray:
        latencies = []
        for text in variants:
            t0 = time.perf_counter()
            await parser.parse(text)
            latencies.append(time.perf_counter() - t0)
        return np.array(latencies) * 1000

    ms = asyncio.run(_timed())
    cached = asyncio.run(_timed())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(texts)} messages again, their embeddings cached: p50_ms="
        f"{np.percentile(cached, 50):.2f} p95_ms={np.percentile(cached, 95):.2f}"
    )
    print(f"{len(texts)} messages, one at a time")
    print(
        f"nlu: load_s={load_s:.1f} rss_mb={rss_mb:.0f} msgs_per_s={len(ms) / (ms.sum() / 1000):.1f}"
        f" p50_ms={np.percentile(ms, 50):.1f} p95_ms={np.percentile(ms, 95):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
