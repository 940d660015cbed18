"""The gateway, Rasa and the action server as separate processes, each stopped, frozen and
restarted on its own, as systemd would run them (for the inbox tests and bench/inbound.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from bot.db import Database
from bot.migrate import upgrade
from bot.runner import (
    action_command,
    gateway_command,
    latest_model,
    rasa_command,
    server_environment,
)
from bot.settings import PROJECT_ROOT, Settings
from tests.e2e.conftest import free_port, inbox_emptied


class Services:
    """`start()` all three; `freeze`, `thaw`, `stop` and `start_one` each by name."""

    NAMES = ("actions", "rasa", "gateway")

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.ports = {"rasa": free_port(), "actions": free_port(), "gateway": free_port()}
        self.env = {
            "RASA_PORT": str(self.ports["rasa"]),
            "ACTION_PORT": str(self.ports["actions"]),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "ENGAGE_VAR_DIR": str(workdir),
            "RASA_API_TOKEN": "services-api-token-0123456789",
            **env,
        }
        self.settings = Settings.from_env(self.env)
        self.database = Database(self.settings.database_url)
        self.processes: dict[str, subprocess.Popen] = {}

    def url(self, path: str) -> str:
        """A URL on the gateway."""
        return f"http://127.0.0.1:{self.ports['gateway']}{path}"

    def _command(self, name: str) -> list[str]:
        if name == "actions":
            return action_command(self.settings)
        if name == "rasa":
            model = latest_model(self.settings.model_dir)
            assert model is not None, "no trained model: run `make train` first"
            return rasa_command(self.settings, model)
        return gateway_command()

    def _ready_url(self, name: str) -> str:
        port = self.ports[name]
        path = {"actions": "/health", "rasa": "/webhooks/inbox/", "gateway": "/healthz"}[name]
        return f"http://127.0.0.1:{port}{path}"

    def start(self) -> Services:
        """Migrate the database and start every process; returns when all answer."""
        upgrade(self.settings.database_url)
        for name in self.NAMES:
            self.start_one(name, wait=False)
        for name in self.NAMES:
            self.wait_ready(name)
        return self

    def start_one(self, name: str, wait: bool = True) -> None:
        """Start (or restart) one process."""
        env = server_environment(self.settings, {**os.environ, **self.env})
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            self._command(name), cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 240) -> None:
        """Wait until the process answers its health check."""
        deadline = time.monotonic() + timeout
        while True:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.workdir / (name + '.log')}")
            try:
                if requests.get(self._ready_url(name), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start in {timeout} s")
            time.sleep(0.3)

    def freeze(self, name: str) -> None:
        """SIGSTOP: the process hangs, holding its connections (what a stuck server does)."""
        self.processes[name].send_signal(signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        """SIGCONT."""
        self.processes[name].send_signal(signal.SIGCONT)

    def stop(self, name: str) -> None:
        """Stop one process as systemd would (SIGTERM, then SIGKILL)."""
        process = self.processes[name]
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def settle(self, timeout: float = 120) -> bool:
        """Wait until the inbox is empty; False if it is not within `timeout`."""
        return inbox_emptied(self.database, timeout)

    def shutdown(self) -> None:
        """Stop everything."""
        for name in reversed(self.NAMES):
            if name in self.processes and self.processes[name].poll() is None:
                self.stop(name)
        self.database.dispose()
