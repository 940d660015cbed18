"""Benchmark: a full, cold `rasa train` (no cache) on this machine. Target: under 180 s on 2 cores.

Usage: .venv/bin/python bench/train.py
Last line: `train: seconds=<s> cores=<n> examples=<n>`
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Train once from scratch into a temporary folder and report the wall time."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = len(load_data(str(ROOT / "data" / "nlu")).intent_examples)
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", RASA_CACHE_DIRECTORY=cache)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rasa", "train", "--force", "--out", out,
             "--data", "data/nlu", "data/rules", "data/stories"],
            cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - started
    print(f"train: seconds={seconds:.1f} cores={os.cpu_count()} examples={examples}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
