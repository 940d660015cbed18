"""`engage run`: webhooks, Rasa, actions, workers and the console together; one Ctrl-C stops all."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import requests

from bot.migrate import upgrade
from bot.settings import PROJECT_ROOT, Settings


def server_environment(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment both servers need (endpoints.yml reads these variables).

    Secrets go here, never on a command line (which any local user can read in `ps`):
    RASA_API_TOKEN is read by Rasa's inbox channel and the action server from it.
    """
    env = dict(base)
    env.update(
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{settings.action_port}/webhook",
        TRACKER_DATABASE_URL=settings.tracker_database_url,
        DATABASE_URL=settings.database_url,
        RASA_API_TOKEN=settings.rasa_api_token,
        SANIC_HOST="127.0.0.1",  # the action server binds it anyway (actions/server.py)
        RASA_TELEMETRY_ENABLED="false",  # residents' conversations never leave this machine
    )
    return env


def channels_off(settings: Settings) -> list[str]:
    """Why each provider channel that is not configured is off."""
    off = []
    if not settings.sms_enabled:
        off.append(
            "SMS (Twilio): set PUBLIC_BASE_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
            "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"
        )
    if not settings.telegram_enabled:
        off.append(
            "Telegram: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET (and PUBLIC_BASE_URL "
            "for set-webhook)"
        )
    return off


def latest_model(model_dir: Path) -> Path | None:
    """The newest trained model in `model_dir`, if any."""
    models = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def gateway_command() -> list[str]:
    """The command line of the webhook gateway and inbox worker."""
    return [sys.executable, "-m", "bot.cli", "gateway"]


def scheduler_command() -> list[str]:
    """The command line of the check-in scheduler."""
    return [sys.executable, "-m", "bot.cli", "scheduler"]


def notifier_command() -> list[str]:
    """The command line of the worker that sends updates."""
    return [sys.executable, "-m", "bot.cli", "notifier"]


def console_command() -> list[str]:
    """The command line of the officer console."""
    return [sys.executable, "-m", "bot.console"]


def rasa_command(settings: Settings, model: Path) -> list[str]:
    """The command line of the Rasa server (private: only our workers talk to it).

    Without `--enable-api`: Rasa's HTTP API (replace the model, rewrite a tracker...) is
    off, and its only routes are our inbox channel's, which reads its token from the
    environment (`server_environment`).
    """
    return [
        sys.executable, "-m", "rasa", "run",
        "--model", str(model),
        "--credentials", str(PROJECT_ROOT / "credentials.yml"),
        "--endpoints", str(PROJECT_ROOT / "endpoints.yml"),
        "--interface", settings.rasa_host,
        "--port", str(settings.rasa_port),
    ]  # fmt: skip


def action_command(settings: Settings) -> list[str]:
    """The command line of the action server (actions/server.py: 127.0.0.1, Rasa only)."""
    return [
        sys.executable, "-m", "actions.server",
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


def running_banner(settings: Settings, base: str, skipped: list[str]) -> str:
    """What to tell the person who ran `make run` (`base`: the gateway's URL)."""
    public = settings.public_base_url or "(PUBLIC_BASE_URL not set)"
    lines = [
        "",
        "The assistant is running.",
        "  Chat in a terminal:  make chat   (or: .venv/bin/engage chat)",
        f"  Webhooks:            {base} (the only port providers need)",
        f"  REST channel:        POST {base}/webhooks/rest/webhook",
        '                       {"sender": "me", "message": "hi"}',
    ]
    if settings.sms_enabled:
        lines.append(f"  SMS (Twilio):        {public}/webhooks/sms/webhook")
    if settings.telegram_enabled:
        lines.append(f"  Telegram:            {public}/webhooks/telegram/webhook")
    lines += [f"  Not started:         {reason}" for reason in skipped]
    lines += [
        f"  Rasa (private):      {settings.rasa_url}",
        f"  Action server:       http://127.0.0.1:{settings.action_port}",
        f"  Officer console:     http://{settings.console_host}:{settings.console_port}",
        f"  Check-ins:           scheduler running (quiet hours {settings.quiet_hours})",
        "  Updates:             notifier running (same quiet hours)",
        f"  Database:            {settings.database_url}",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def _interrupt(*_: object) -> None:
    """SIGTERM stops us the way Ctrl-C does."""
    raise KeyboardInterrupt


def run(settings: Settings) -> int:
    """Migrate the database, start the servers and workers and wait; returns an exit code."""
    model = latest_model(settings.model_dir)
    if model is None:
        print(f"No trained model in {settings.model_dir}. Run `make run` (it trains one).")
        return 1
    upgrade(settings.database_url)
    if not settings.rasa_api_token:
        # Rasa's inbox channel and the action server need a token: a fresh one, given to
        # our processes in their environment only.
        settings = replace(settings, rasa_api_token=secrets.token_urlsafe(32))
    env = server_environment(settings, os.environ)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    processes = [
        subprocess.Popen(action_command(settings), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(rasa_command(settings, model), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(gateway_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(scheduler_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(notifier_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(console_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
    ]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        base = f"http://{settings.gateway_host}:{settings.gateway_port}"
        up = wait_until_up(f"{base}/healthz", processes, timeout=300) and wait_until_up(
            f"{settings.rasa_url}/webhooks/inbox/", processes, timeout=300
        )
        if not up:
            print("The servers did not start; see the messages above.")
            return 1
        print(running_banner(settings, base, channels_off(settings)), flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("A server stopped; stopping the others.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)
        signal.signal(signal.SIGTERM, previous)
