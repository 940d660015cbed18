"""The real stack for end-to-end tests: `engage run` (every process) on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.db import Database
from bot.services.inbox import depth
from bot.settings import PROJECT_ROOT, Settings
from tests.channels.conftest import AUTH_TOKEN, WEBHOOK_SECRET, channel_env
from tests.fixtures import fake_providers
from tests.ports import free_port

MODEL = PROJECT_ROOT / "models" / "engage.tar.gz"
# What the stack's channels are set up with (tests/channels/conftest.py's `channel_env`).
TWILIO_AUTH_TOKEN, TELEGRAM_WEBHOOK_SECRET = AUTH_TOKEN, WEBHOOK_SECRET
RASA_API_TOKEN = "e2e-api-token-0123456789"
REST_API_TOKEN = "e2e-rest-token-0123456789"
REST_AUTH = {"Authorization": f"Bearer {REST_API_TOKEN}"}  # the REST channel's, once public


def inbox_emptied(database: Database, timeout: float) -> bool:
    """Wait until every inbox message is processed and answered; False after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.transaction() as session:
            if depth(session).open == 0:
                return True
        time.sleep(0.05)
    return False


class Stack:
    """`engage run` in a subprocess, with its own ports and databases."""

    def __init__(
        self, workdir: Path, database_url: str, tracker_url: str, fake_base_url: str = ""
    ) -> None:
        self.workdir = workdir
        self.rasa_port, self.action_port = free_port(), free_port()
        self.gateway_port = free_port()
        self.webhook = f"http://127.0.0.1:{self.gateway_port}/webhooks/rest/webhook"
        self.database = Database(database_url)
        self.tracker_url = tracker_url
        self.log = workdir / "stack.log"
        self.fake_base_url = fake_base_url
        self._process: subprocess.Popen | None = None
        self._log_offset = 0

    @property
    def channel_env(self) -> dict[str, str]:
        """SMS and Telegram settings against the fake providers (none without a fake)."""
        return channel_env(self.fake_base_url) if self.fake_base_url else {}

    def start(self, timeout: float = 240) -> None:
        """Start the stack and wait until both servers answer."""
        if not MODEL.exists():
            pytest.fail("no trained model: run `make train` (make test does) first")
        env = dict(os.environ, CONSOLE_PORT=str(free_port()), **self.env)
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self._up():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._process.kill()
                tail = self.log.read_text(errors="replace")[-4000:]
                pytest.fail(f"the stack did not start:\n{tail}")
            time.sleep(1)

    def _up(self) -> bool:
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            if b"The assistant is running" not in log.read():
                return False
        try:
            return requests.get(f"http://127.0.0.1:{self.action_port}/health", timeout=2).ok
        except requests.RequestException:
            return False

    def stop(self) -> int:
        """Stop with Ctrl-C (SIGINT), as a person would; returns the exit code."""
        assert self._process is not None
        self._process.send_signal(signal.SIGINT)
        try:
            code = self._process.wait(timeout=60)
        finally:
            if self._process.poll() is None:
                self._process.kill()
        return code

    @property
    def env(self) -> dict[str, str]:
        """The settings this stack runs with, as environment variables."""
        return {
            "DATABASE_URL": self.database.url,
            "TRACKER_DATABASE_URL": self.tracker_url,
            "RASA_PORT": str(self.rasa_port),
            "ACTION_PORT": str(self.action_port),
            "GATEWAY_PORT": str(self.gateway_port),
            "ENGAGE_VAR_DIR": str(self.workdir),
            "ORG_NAME": "Leeds Listens",
            "PRIVACY_URL": "https://leeds.example/p",
            "RASA_API_TOKEN": RASA_API_TOKEN,
            "REST_API_TOKEN": REST_API_TOKEN,
            **self.channel_env,
        }

    def settings(self) -> Settings:
        """This stack's settings, as its processes read them."""
        return Settings.from_env(self.env)

    def settle(self, timeout: float = 90) -> None:
        """Wait until the inbox worker has processed every message and sent its replies."""
        if not inbox_emptied(self.database, timeout):
            pytest.fail("the inbox did not empty: is Rasa or the action server stuck?")

    def url(self, path: str) -> str:
        """A URL on this stack's gateway (where providers post)."""
        return f"http://127.0.0.1:{self.gateway_port}{path}"

    def rasa(self, path: str) -> str:
        """A URL on this stack's private Rasa server."""
        return f"http://127.0.0.1:{self.rasa_port}{path}"

    def say(self, sender: str, message: str) -> list[dict]:
        """Send one message as `sender`; returns the bot's replies."""
        reply = requests.post(
            self.webhook,
            json={"sender": sender, "message": message},
            headers=REST_AUTH,
            timeout=60,
        )
        reply.raise_for_status()
        return reply.json()

    def texts(self, sender: str, message: str) -> list[str]:
        """The texts of the bot's replies to one message."""
        return [m.get("text", "") for m in self.say(sender, message)]


# Fake Twilio and Telegram APIs for the whole package (the stack is started once against them).
fake = pytest.fixture(fake_providers, scope="package", name="fake")


@pytest.fixture(scope="package")
def stack(tmp_path_factory, fake) -> Iterator[Stack]:
    """One stack on SQLite, with every channel, for the package's tests."""
    workdir = tmp_path_factory.mktemp("stack")
    running = Stack(
        workdir,
        f"sqlite:///{workdir / 'engage.db'}",
        f"sqlite:///{workdir / 'tracker.db'}",
        fake_base_url=fake.base_url,
    )
    running.start()
    yield running
    assert running.stop() == 0, "engage run did not stop cleanly on Ctrl-C"
    running.database.dispose()
