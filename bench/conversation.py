"""Benchmark: whole conversations through the real stack (REST channel, Rasa, action server).

Starts `engage run` on free ports with fresh SQLite databases, then N residents (in
parallel threads) each hold the 5-turn first conversation. Reports turns per second and
per-turn latency. Usage: .venv/bin/python bench/conversation.py [RESIDENTS] [THREADS]
Last line: `conversation: residents=<n> turns=<n> turns_per_s=<x> p50_ms=<x> p95_ms=<x> errors=<n>`
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
TURNS = ["hi", "yes", "the buses stop at 6 so i cant get home from my shift", "done", "LS6"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TOKEN = secrets.token_urlsafe(24)


def _start(workdir: Path) -> tuple[subprocess.Popen, str]:
    rasa_port, action_port, gateway_port = _free_port(), _free_port(), _free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'engage.db'}",
        TRACKER_DATABASE_URL=f"sqlite:///{workdir / 'tracker.db'}",
        RASA_PORT=str(rasa_port),
        ACTION_PORT=str(action_port),
        GATEWAY_PORT=str(gateway_port),
        CONSOLE_PORT=str(_free_port()),
        ENGAGE_VAR_DIR=str(workdir),
        REST_API_TOKEN=TOKEN,  # the REST channel needs it once a token is set
    )
    log = (workdir / "stack.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while b"The assistant is running" not in (workdir / "stack.log").read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the stack did not start; see " + str(workdir / "stack.log"))
        time.sleep(0.5)
    return process, f"http://127.0.0.1:{gateway_port}/webhooks/rest/webhook"


def _converse(url: str, resident: int) -> list[float]:
    latencies = []
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        for turn in TURNS:
            t0 = time.perf_counter()
            reply = http.post(
                url, json={"sender": f"bench-{resident}", "message": turn}, timeout=60
            )
            reply.raise_for_status()
            if not reply.json():
                raise RuntimeError(f"no reply to {turn!r}")
            latencies.append(time.perf_counter() - t0)
    return latencies


def main() -> int:
    """Run the benchmark and print the summary line."""
    residents = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with tempfile.TemporaryDirectory() as tmp:
        process, url = _start(Path(tmp))
        try:
            _converse(url, -1)  # warm-up
            started = time.perf_counter()
            latencies: list[float] = []
            errors = 0
            with ThreadPoolExecutor(threads) as pool:
                for future in [pool.submit(_converse, url, r) for r in range(residents)]:
                    try:
                        latencies += future.result()
                    except Exception:  # counted and reported
                        errors += 1
            elapsed = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    ms = np.array(latencies) * 1000
    print(
        f"conversation: residents={residents} turns={len(ms)} "
        f"turns_per_s={len(ms) / elapsed:.1f} p50_ms={np.percentile(ms, 50):.0f} "
        f"p95_ms={np.percentile(ms, 95):.0f} errors={errors}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
