"""bench/inbox_db.py still runs against the worker's code (it calls the worker's own steps)."""

from __future__ import annotations

import re
import subprocess
import sys

from bot.settings import PROJECT_ROOT


def test_it_runs_and_prints_its_last_line():
    ran = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "inbox_db.py"), "--turns", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    last = ran.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"inbox_db: cpu_ms_per_turn=[\d.]+ wall_ms_per_turn=[\d.]+ turns=3", last)
