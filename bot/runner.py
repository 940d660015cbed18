"""`engage run`: the Rasa server and the action server together; one Ctrl-C stops both."""

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
    """The environment both servers need (endpoints.yml reads these variables)."""
    env = dict(base)
    env.update(
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{settings.action_port}/webhook",
        TRACKER_DATABASE_URL=settings.tracker_database_url,
        DATABASE_URL=settings.database_url,
        RASA_API_TOKEN=settings.rasa_api_token,
        SANIC_HOST="127.0.0.1",  # the action server is only for the Rasa server
        RASA_TELEMETRY_ENABLED="false",  # residents' conversations never leave this machine
    )
    return env


CHANNEL_SETTINGS = {
    "channels.twilio_sms.TwilioSmsInput": (
        "sms_enabled",
        "SMS (Twilio): set PUBLIC_BASE_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
        "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID",
    ),
    "channels.telegram.TelegramInput": (
        "telegram_enabled",
        "Telegram: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET (and PUBLIC_BASE_URL "
        "for set-webhook)",
    ),
}


def active_credentials(settings: Settings, template: str) -> tuple[str, list[str]]:
    """credentials.yml without the channels that are not configured, and why each is off.

    The file is filtered as text, one top-level block per channel, so its ${VAR}s stay
    for Rasa to substitute.
    """
    kept: list[str] = []
    skipped: list[str] = []
    keep = True
    for line in template.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name = line.split(":", 1)[0]
            flag, reason = CHANNEL_SETTINGS.get(name, (None, ""))
            keep = flag is None or bool(getattr(settings, flag))
            if not keep:
                skipped.append(reason)
        if keep:
            kept.append(line)
    return "\n".join(kept) + "\n", skipped


def latest_model(model_dir: Path) -> Path | None:
    """The newest trained model in `model_dir`, if any."""
    models = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def scheduler_command() -> list[str]:
    """The command line of the check-in scheduler."""
    return [sys.executable, "-m", "bot.cli", "scheduler"]


def notifier_command() -> list[str]:
    """The command line of the worker that sends updates."""
    return [sys.executable, "-m", "bot.cli", "notifier"]


def console_command() -> list[str]:
    """The command line of the officer console."""
    return [sys.executable, "-m", "bot.console"]


def rasa_command(settings: Settings, model: Path, credentials: Path) -> list[str]:
    """The command line of the Rasa server."""
    command = [
        sys.executable, "-m", "rasa", "run",
        "--model", str(model),
        "--credentials", str(credentials),
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


def running_banner(settings: Settings, base: str, skipped: list[str]) -> str:
    """What to tell the person who ran `make run`."""
    public = settings.public_base_url or "(PUBLIC_BASE_URL not set)"
    lines = [
        "",
        "The assistant is running.",
        "  Chat in a terminal:  make chat   (or: .venv/bin/engage chat)",
        f"  REST channel:        POST {base}/webhooks/rest/webhook",
        '                       {"sender": "me", "message": "hi"}',
    ]
    if settings.sms_enabled:
        lines.append(f"  SMS (Twilio):        {public}/webhooks/sms/webhook")
    if settings.telegram_enabled:
        lines.append(f"  Telegram:            {public}/webhooks/telegram/webhook")
    lines += [f"  Not started:         {reason}" for reason in skipped]
    lines += [
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
        # The scheduler needs Rasa's API; it stays on this machine behind a fresh token.
        settings = replace(settings, rasa_api_token=secrets.token_urlsafe(32))
    env = server_environment(settings, os.environ)
    credentials, skipped = active_credentials(
        settings, (PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")
    )
    credentials_file = settings.var_dir / "credentials.yml"
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text(credentials, encoding="utf-8")
    processes = [
        subprocess.Popen(action_command(settings), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(  # noqa: S603 - our own argv
            rasa_command(settings, model, credentials_file), cwd=PROJECT_ROOT, env=env
        ),
        subprocess.Popen(scheduler_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(notifier_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
        subprocess.Popen(console_command(), cwd=PROJECT_ROOT, env=env),  # noqa: S603 - our own argv
    ]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        base = f"http://{settings.rasa_host}:{settings.rasa_port}"
        if not wait_until_up(f"{base}/webhooks/rest/", processes, timeout=300):
            print("The servers did not start; see the messages above.")
            return 1
        print(running_banner(settings, base, skipped), flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("A server stopped; stopping the others.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)
        signal.signal(signal.SIGTERM, previous)
