"""The real stack for end-to-end tests: `engage run` (Rasa server + action server) on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bot.db import Database
from bot.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "models" / "engage.tar.gz"


def free_port() -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    """A running assistant: where to talk to it and its database."""

    webhook: str
    database: Database
    log: Path

    def say(self, sender: str, message: str) -> list[dict]:
        """Send one message as `sender`; returns the bot's replies."""
        reply = requests.post(self.webhook, json={"sender": sender, "message": message}, timeout=60)
        reply.raise_for_status()
        return reply.json()

    def texts(self, sender: str, message: str) -> list[str]:
        """The texts of the bot's replies to one message."""
        return [m.get("text", "") for m in self.say(sender, message)]


@pytest.fixture(scope="package")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Start `engage run` once for the package's tests; stop it with Ctrl-C (SIGINT)."""
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does) before the e2e tests")
    workdir = tmp_path_factory.mktemp("stack")
    rasa_port, action_port = free_port(), free_port()
    database_url = f"sqlite:///{workdir / 'engage.db'}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        TRACKER_DATABASE_URL=f"sqlite:///{workdir / 'tracker.db'}",
        RASA_PORT=str(rasa_port),
        ACTION_PORT=str(action_port),
        ENGAGE_VAR_DIR=str(workdir),
        ORG_NAME="Leeds Listens",
        PRIVACY_URL="https://leeds.example/p",
    )
    log = workdir / "stack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    webhook = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
    deadline = time.monotonic() + 240
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the stack did not start:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if (
                "The assistant is running" in log.read_text(errors="replace")
                and requests.get(f"http://127.0.0.1:{action_port}/health", timeout=2).ok
            ):
                break
        except requests.RequestException:
            pass
        time.sleep(1)
    database = Database(database_url)
    yield Stack(webhook=webhook, database=database, log=log)
    database.dispose()
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=60) == 0, "engage run did not stop cleanly on Ctrl-C"
    finally:
        if process.poll() is None:
            process.kill()
