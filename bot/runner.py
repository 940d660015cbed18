"""`engage run`: webhooks, Rasa, actions, workers and the console together; one Ctrl-C stops all."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from bot.keys import RASA_API_TOKEN_FILE, local_secret
from bot.settings import PROJECT_ROOT, Settings

# Libraries' deprecation notices (Rasa, TensorFlow, SQLAlchemy's MovedIn20Warning,
# matplotlib's pyparsing, sanic-cors' distutils...) are for their developers, not for
# whoever runs the assistant: our processes start without them. Set PYTHONWARNINGS
# yourself (e.g. to "default") to see them again.
QUIET_WARNINGS = ",".join(
    [
        "ignore::DeprecationWarning",
        "ignore::PendingDeprecationWarning",
    ]
)


REDIS_LOCK_STORE = "bot.lock_store.UrlRedisLockStore"
# Every process `engage run` starts, in the order it starts them (deploy/Procfile has one
# line each, `engage serve <name>`; it stops them in the reverse order).
PROCESSES = ("actions", "rasa", "gateway", "scheduler", "notifier", "console")


def upgrade(database_url: str) -> None:
    """Create or migrate the database (Alembic is imported only when it is needed)."""
    from bot.migrate import upgrade as migrate

    migrate(database_url)


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
        # Several Rasa servers lock conversations in Redis; one keeps its locks in memory.
        LOCK_STORE_TYPE=REDIS_LOCK_STORE if settings.redis_url else "in_memory",
        RASA_API_TOKEN=settings.rasa_api_token,
        SANIC_HOST="127.0.0.1",  # the action server binds it anyway (actions/server.py)
        RASA_TELEMETRY_ENABLED="false",  # residents' conversations never leave this machine
    )
    env.setdefault("PYTHONWARNINGS", QUIET_WARNINGS)
    return env


def with_rasa_api_token(settings: Settings) -> Settings:
    """`settings` with RASA_API_TOKEN, or else the token made once in var/ (mode 0600).

    Rasa's inbox channel and the action server need one. Kept in var/ rather than made
    afresh at each start, so that `engage scheduler --once` beside `make run` finds it.
    """
    if settings.rasa_api_token:
        return settings
    token = local_secret("", settings.var_dir, RASA_API_TOKEN_FILE)
    return replace(settings, rasa_api_token=token)


def prepare_var_dir(settings: Settings) -> None:
    """Make ENGAGE_VAR_DIR, and Rasa's SQLite tracker store owner-only before Rasa makes it
    (made by Rasa, any local user could read it)."""
    from bot.db import private_sqlite  # SQLAlchemy only once something will start

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    private_sqlite(settings.tracker_database_url)


def listening_ports(settings: Settings) -> list[tuple[str, str, int]]:
    """Where each of our servers listens: (its setting, host, port), the gateway first."""
    return [
        ("GATEWAY_PORT", settings.gateway_host, settings.gateway_port),
        ("RASA_PORT", settings.rasa_host, settings.rasa_port),
        ("ACTION_PORT", "127.0.0.1", settings.action_port),
        ("CONSOLE_PORT", settings.console_host, settings.console_port),
    ]


def port_in_use(host: str, port: int) -> bool:
    """True if something already listens on `host`:`port` (so our server could not)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return False  # the server itself will say what is wrong with the host
    with socket.socket(family, kind, proto) as sock:
        # As the servers do: a port left in TIME_WAIT by a copy that stopped is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def port_taken(settings: Settings) -> str | None:
    """Why `engage run` cannot start because a port is taken, or None if all are free."""
    for setting, host, port in listening_ports(settings):
        if port_in_use(host, port):
            return (
                f"Another copy is running (port {port} is in use): stop it first, or set {setting}."
            )
    return None


def admin_exists(database_url: str) -> bool:
    """True if an enabled admin account can sign in to the console."""
    from sqlalchemy import select

    from bot.db import Database
    from bot.models import ConsoleUser, Role

    database = Database(database_url)
    try:
        with database.transaction() as session:
            admin = session.scalar(
                select(ConsoleUser.id)
                .where(ConsoleUser.role == Role.ADMIN, ConsoleUser.disabled_at.is_(None))
                .limit(1)
            )
    finally:
        database.dispose()
    return admin is not None


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


def process_command(name: str, settings: Settings, model: Path | None = None) -> list[str]:
    """The command line of one of PROCESSES (`model`: the trained model, for Rasa)."""
    if name == "actions":
        return quieted(action_command(settings))
    if name == "rasa":
        if model is None:
            raise ValueError("Rasa needs a trained model")
        return quieted(rasa_command(settings, model))
    simple = {
        "gateway": gateway_command,
        "scheduler": scheduler_command,
        "notifier": notifier_command,
        "console": console_command,
    }
    if name not in simple:
        raise ValueError(f"no process called {name!r}; one of {', '.join(PROCESSES)}")
    return simple[name]()


def serve(name: str, settings: Settings) -> int:
    """`engage serve NAME`: one process in the foreground, as systemd or a Procfile runs it.

    It becomes the server itself (exec), with the environment `engage run` would give it,
    so the supervisor's signals reach the server. Nothing is migrated here: run `engage db
    upgrade` once per release (docs/DEPLOY.md). RASA_API_TOKEN must be set (the same on
    every server): without `engage run` nobody makes one up.
    """
    if name not in PROCESSES:
        print(f"No process called {name!r}; one of: {', '.join(PROCESSES)}.", file=sys.stderr)
        return 2
    if not settings.rasa_api_token:
        print("Set RASA_API_TOKEN (the same on every server) first.", file=sys.stderr)
        return 2
    model = latest_model(settings.model_dir) if name == "rasa" else None
    if name == "rasa" and model is None:
        print(f"No trained model in {settings.model_dir}: run `make train` first.", file=sys.stderr)
        return 1
    prepare_var_dir(settings)
    command = process_command(name, settings, model)
    env = server_environment(settings, os.environ)
    os.chdir(PROJECT_ROOT)
    sys.stdout.flush()
    os.execve(command[0], command, env)  # noqa: S606 - our own argv; replaces this process
    return 0  # not reached


def wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float) -> bool:
    """Poll `url` until it answers 200, a process dies, or `timeout` seconds pass."""
    import requests

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


def quieted(command: list[str]) -> list[str]:
    """A sanic server's command line (Rasa, actions), run through `bot.quiet`.

    Sanic turns deprecation warnings back on when imported; `bot.quiet` turns them off.
    """
    python, flag, *rest = command
    assert flag == "-m", command
    return [python, "-m", "bot.quiet", *rest]


def stop(processes: list[subprocess.Popen], timeout: float = 15) -> None:
    """Stop the processes one by one, last started first, each with its one signal."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(stop_signal(process))
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stop_signal(process: subprocess.Popen) -> int:
    """The signal that stops this process of ours cleanly.

    The sanic servers (Rasa, actions: run through `bot.quiet`) stop gracefully on SIGTERM
    once serving, and quietly before (SIGINT while Rasa loads its model prints a
    traceback); our own processes stop on SIGINT, as on Ctrl-C.
    """
    args = process.args if isinstance(process.args, list) else []
    return signal.SIGTERM if args[1:3] == ["-m", "bot.quiet"] else signal.SIGINT


ADMIN_COMMAND = (
    '.venv/bin/engage users create --email you@council.example --name "Your Name" --role admin'
)


def running_banner(
    settings: Settings,
    base: str,
    skipped: list[str],
    needs_admin: bool = False,
    terminal_chat: bool = True,
) -> str:
    """What to tell the person who ran `make run` (`base`: the gateway's URL).

    `needs_admin`: no enabled admin account exists, so nobody can sign in to the console.
    `terminal_chat`: `make chat` talks to this stack (not to the demo's).
    """
    public = settings.public_base_url or "(PUBLIC_BASE_URL not set)"
    lines = ["", "The assistant is running."]
    if terminal_chat:
        lines.append("  Chat in a terminal:  make chat   (or: .venv/bin/engage chat)")
    lines += [
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
        f"  Metrics:             /metrics and /healthz on each port (scheduler "
        f":{settings.scheduler_port}, notifier :{settings.notifier_port})",
        f"  Database:            {settings.database_url}",
    ]
    if needs_admin:
        lines += [
            "  No admin yet:        nobody can sign in to the console until an admin exists;",
            "                       create one in another terminal (it asks for a password):",
            f"                       {ADMIN_COMMAND}",
        ]
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(*_: object) -> None:
    """SIGTERM and SIGHUP (the terminal closed) stop us the way Ctrl-C does."""
    raise KeyboardInterrupt


def run(
    settings: Settings, on_ready: Callable[[], None] | None = None, terminal_chat: bool = True
) -> int:
    """Start everything and wait; Ctrl-C (or SIGTERM) stops it all and says "Stopped.".

    `on_ready` is called once everything answers, after the banner (`engage demo` uses it,
    with `terminal_chat` off: `make chat` does not talk to the demo).
    """
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    processes: list[subprocess.Popen] = []
    interrupted = False
    try:
        return _run(settings, processes, on_ready, terminal_chat)
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        # A second Ctrl-C while the servers stop would only print a traceback.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        stop(processes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if interrupted:
            print("Stopped.", flush=True)


def _run(
    settings: Settings,
    processes: list[subprocess.Popen],
    on_ready: Callable[[], None] | None = None,
    terminal_chat: bool = True,
) -> int:
    """Migrate the database, start the servers and workers into `processes` and wait."""
    taken = port_taken(settings)
    if taken:
        print(taken)
        return 1
    model = latest_model(settings.model_dir)
    if model is None:
        print(f"No trained model in {settings.model_dir}. Run `make run` (it trains one).")
        return 1
    upgrade(settings.database_url)
    needs_admin = not admin_exists(settings.database_url)
    settings = with_rasa_api_token(settings)
    env = server_environment(settings, os.environ)
    prepare_var_dir(settings)
    commands = [process_command(name, settings, model) for name in PROCESSES]
    for command in commands:
        # Each in its own session: Ctrl-C reaches only us, and we stop them in order,
        # once each (a second SIGINT mid-shutdown is what printed tracebacks).
        processes.append(
            subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)  # noqa: S603 - our own argv
        )
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    up = wait_until_up(f"{base}/healthz", processes, timeout=300) and wait_until_up(
        f"{settings.rasa_url}/webhooks/inbox/", processes, timeout=300
    )
    if not up:
        print("The servers did not start; see the messages above.")
        return 1
    banner = running_banner(
        settings, base, channels_off(settings), needs_admin=needs_admin, terminal_chat=terminal_chat
    )
    print(banner, flush=True)
    if on_ready is not None:
        on_ready()
    while all(p.poll() is None for p in processes):
        time.sleep(0.5)
    print("A server stopped; stopping the others.")
    return 1
