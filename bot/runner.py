"""`engage run`: the Rasa server and the action server together; one Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from bot.migrate import upgrade
from bot.settings import PROJECT_ROOT, Settings


def server_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment both servers need (endpoints.yml reads these variables)."""
    env = dict(base)
    env.update(
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{settings.action_port}/webhook",
        TRACKER_DATABASE_URL=settings.tracker_database_url,
        DATABASE_URL=settings.database_url,
        SANIC_HOST="127.0.0.1",  # the action server is only for the Rasa server
        RASA_TELEMETRY_ENABLED="false",  # residents' conversations never leave this machine
    )
    return env


def latest_model(model_dir: Path) -> Path | None:
    """The newest trained model in `model_dir`, if any."""
    models = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def rasa_command(settings: Settings, model: Path) -> list[str]:
    """The command line of the Rasa server."""
    command = [
        sys.executable, "-m", "rasa", "run",
        "--model", str(model),
        "--credentials", str(PROJECT_ROOT / "credentials.yml"),
        "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
        "--interface", settings.rasa_host,
        "--port", str(settings.rasa_port),
    ]  # fmt: skip
    if settings.rasa_api_token:
        command += ["--enable-api", "--auth-token", settings.rasa_api_token]
    return command


def action_command(settings: Settings) -> list[str]:
    """The command line of the action server."""
    return [
        sys.executable, "-m", "rasa_sdk",
        "--actions", "actions",
        "--port", str(settings.action_port),
    ]  # fmt: skip


def wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float) -> bool:
    """Poll `url` until it answers 200, a process dies, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(1)
    return False


def stop(processes: list[subprocess.Popen]) -> None:
    """Ask every process to stop, then make sure they have."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _interrupt(*_: object) -> None:
    """SIGTERM stops us the way Ctrl-C does."""
    raise KeyboardInterrupt


def run(settings: Settings) -> int:
    """Migrate the database, start both servers and wait; returns an exit code."""
    model = latest_model(settings.model_dir)
    if model is None:
        print(f"No trained model in {settings.model_dir}. Run `make run` (it trains one).")
        return 1
    upgrade(settings.database_url)
    env = server_environment(settings, os.environ)
    processes = [
        subprocess.Popen(action_command(settings), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(rasa_command(settings, model), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
    ]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        base = f"http://{settings.rasa_host}:{settings.rasa_port}"
        if not wait_until_up(f"{base}/webhooks/rest/", processes, timeout=300):
            print("The servers did not start; see the messages above.")
            return 1
        print(
            "\nThe assistant is running.\n"
            f"  Chat in a terminal:  make chat   (or: .venv/bin/engage chat)\n"
            f"  REST channel:        POST {base}/webhooks/rest/webhook\n"
            f'                       {{"sender": "me", "message": "hi"}}\n'
            f"  Action server:       http://127.0.0.1:{settings.action_port}\n"
            f"  Database:            {settings.database_url}\n"
            "  SMS and Telegram:    not set up yet (no provider credentials).\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("A server stopped; stopping the other.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)
        signal.signal(signal.SIGTERM, previous)
