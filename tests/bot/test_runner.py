"""`engage run`: what is off and why, where everything listens, the first admin, a second
copy, and a clean stop."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from bot import runner
from bot.cli import build_parser, main
from bot.models import ConsoleUser
from bot.runner import (
    ADMIN_COMMAND,
    PROCESSES,
    QUIET_WARNINGS,
    action_command,
    admin_exists,
    channels_off,
    console_command,
    gateway_command,
    port_in_use,
    port_taken,
    process_command,
    quieted,
    rasa_command,
    running_banner,
    server_environment,
    stop,
    with_rasa_api_token,
)
from bot.settings import PROJECT_ROOT, Settings, get_settings
from tests.ports import free_ports

SMS = {
    "PUBLIC_BASE_URL": "https://engage.example.org",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_FROM_NUMBER": "+447700900000",
}
TELEGRAM = {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": "s" * 20}


def test_nothing_configured_both_provider_channels_are_off():
    off = channels_off(Settings.from_env({}))
    assert len(off) == 2 and "TWILIO_AUTH_TOKEN" in off[0] and "TELEGRAM_BOT_TOKEN" in off[1]


def test_configured_channels_are_on():
    assert channels_off(Settings.from_env({**SMS, **TELEGRAM})) == []


def test_rasa_has_only_the_private_inbox_channel():
    settings = Settings.from_env({})
    command = rasa_command(settings, PROJECT_ROOT / "models" / "m.tar.gz")
    credentials = command[command.index("--credentials") + 1]
    text = (PROJECT_ROOT / "credentials.yml").read_text()
    assert credentials == str(PROJECT_ROOT / "credentials.yml")
    assert "channels.inbox.InboxInput:" in text and "Twilio" not in text.split("\n", 4)[-1]
    assert command[command.index("--port") + 1] == "5006"


def test_the_banner_gives_the_webhook_urls_and_what_is_off():
    settings = Settings.from_env(SMS)
    banner = running_banner(settings, "http://127.0.0.1:5005", channels_off(settings))
    assert "https://engage.example.org/webhooks/sms/webhook" in banner
    assert "POST http://127.0.0.1:5005/webhooks/rest/webhook" in banner
    assert "Not started:         Telegram" in banner
    assert "Chat in a terminal:  make chat" in banner
    # The demo's banner: `make chat` does not talk to it.
    demo = running_banner(settings, "http://127.0.0.1:5105", [], terminal_chat=False)
    assert "make chat" not in demo and "POST http://127.0.0.1:5105/webhooks/rest/" in demo


# --- the first admin (issue 18, point 11) -------------------------------------------------


def test_the_banner_says_how_to_create_the_first_admin():
    settings = Settings.from_env({})
    banner = running_banner(settings, "http://127.0.0.1:5005", [], needs_admin=True)
    assert "nobody can sign in to the console until an admin exists" in banner
    assert (
        '.venv/bin/engage users create --email you@council.example --name "Your Name" '
        "--role admin" in banner
    )
    assert banner.rstrip().endswith("Press Ctrl-C to stop.")
    assert "users create" not in running_banner(settings, "http://127.0.0.1:5005", [])


def test_the_admin_command_is_one_the_cli_accepts():
    args = shlex.split(ADMIN_COMMAND)
    assert args[0] == ".venv/bin/engage"
    parsed = build_parser().parse_args(args[1:])
    assert (parsed.command, parsed.action, parsed.role) == ("users", "create", "admin")


def test_only_an_enabled_admin_counts(database):
    assert not admin_exists(database.url)
    with database.transaction() as session:
        session.add(
            ConsoleUser(email="o@council.example", name="O", password_hash="x", role="officer")
        )
        session.add(
            ConsoleUser(email="a@council.example", name="A", password_hash="x", role="admin",
                        disabled_at=datetime.now(timezone.utc))
        )  # fmt: skip
    assert not admin_exists(database.url)
    with database.transaction() as session:
        session.add(
            ConsoleUser(email="b@council.example", name="B", password_hash="x", role="admin")
        )
    assert admin_exists(database.url)


# --- a second copy, Ctrl-C and warnings (issue 18, point 13) ------------------------------


def port_env(gateway: int, rasa: int, action: int, console: int) -> dict[str, str]:
    return {
        "GATEWAY_PORT": str(gateway),
        "RASA_PORT": str(rasa),
        "ACTION_PORT": str(action),
        "CONSOLE_PORT": str(console),
        # The workers' metrics ports: taken ones are only logged, but keep them apart too.
        "SCHEDULER_PORT": str(free_ports(1)[0]),
        "NOTIFIER_PORT": str(free_ports(1)[0]),
    }


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something (another copy, say) is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_free_ports_are_not_taken():
    settings = Settings.from_env(port_env(*free_ports(4)))
    assert port_taken(settings) is None


@pytest.mark.parametrize("setting", ["GATEWAY_PORT", "RASA_PORT", "ACTION_PORT", "CONSOLE_PORT"])
def test_a_taken_port_is_named_with_its_setting(listening, setting):
    env = {**port_env(*free_ports(4)), setting: str(listening)}
    assert port_in_use("127.0.0.1", listening)
    assert port_taken(Settings.from_env(env)) == (
        f"Another copy is running (port {listening} is in use): stop it first, or set {setting}."
    )


def test_a_second_copy_starts_nothing(listening, monkeypatch, capsys, tmp_path):
    def must_not(*args, **kwargs):
        raise AssertionError("started something")

    monkeypatch.setattr(runner, "upgrade", must_not)
    monkeypatch.setattr(runner.subprocess, "Popen", must_not)
    env = {**port_env(listening, *free_ports(3)), "ENGAGE_VAR_DIR": str(tmp_path)}
    assert runner.run(Settings.from_env(env)) == 1
    out = capsys.readouterr().out
    assert f"Another copy is running (port {listening} is in use)" in out
    assert "set GATEWAY_PORT." in out and "The assistant is running" not in out


class FakeProcess:
    """A child process that records the signals it gets, and stops on the first."""

    def __init__(self, args: list[str], log: list) -> None:
        self.args, self.log, self.code = args, log, None

    def poll(self):  # type: ignore[no-untyped-def]
        return self.code

    def send_signal(self, sig: int) -> None:
        self.log.append((self.args[2:4], sig))
        self.code = 0

    def wait(self, timeout: float | None = None) -> int:
        self.log.append((self.args[2:4], "waited"))
        return 0


def test_children_are_stopped_one_by_one_last_started_first():
    settings = Settings.from_env({})
    model = PROJECT_ROOT / "models" / "m.tar.gz"
    log: list = []
    processes = [
        FakeProcess(command, log)
        for command in [
            quieted(action_command(settings)),
            quieted(rasa_command(settings, model)),
            gateway_command(),
            console_command(),
        ]
    ]
    stop(processes)  # type: ignore[arg-type]
    assert log == [
        (["bot.console"], signal.SIGINT), (["bot.console"], "waited"),
        (["bot.cli", "gateway"], signal.SIGINT), (["bot.cli", "gateway"], "waited"),
        (["bot.quiet", "rasa"], signal.SIGTERM), (["bot.quiet", "rasa"], "waited"),
        (["bot.quiet", "actions.server"], signal.SIGTERM),
        (["bot.quiet", "actions.server"], "waited"),
    ]  # fmt: skip


def test_children_get_no_deprecation_warnings_unless_asked():
    settings = Settings.from_env({})
    quiet = server_environment(settings, {})["PYTHONWARNINGS"]
    assert "ignore::DeprecationWarning" in quiet and "ignore::PendingDeprecationWarning" in quiet
    asked = server_environment(settings, {"PYTHONWARNINGS": "default"})
    assert asked["PYTHONWARNINGS"] == "default"


def test_the_action_server_starts_without_sanics_deprecation_warnings():
    """Sanic turns DeprecationWarning back on as it loads (sanic-cors then warns)."""
    env = {**os.environ, "PYTHONWARNINGS": QUIET_WARNINGS}
    command = [*quieted(action_command(Settings.from_env({}))), "--help"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "usage" in done.stdout
    assert "Warning" not in done.stderr, done.stderr


# --- scale-out (issue 14): Redis, one process at a time ---------------------------------


def test_one_machine_keeps_rasas_locks_in_memory_and_redis_moves_them():
    alone = server_environment(Settings.from_env({}), {})
    assert alone["LOCK_STORE_TYPE"] == "in_memory"
    shared = server_environment(Settings.from_env({"REDIS_URL": "redis://192.0.2.5:6379/0"}), {})
    assert shared["LOCK_STORE_TYPE"] == "bot.lock_store.UrlRedisLockStore"
    endpoints = (PROJECT_ROOT / "endpoints.yml").read_text()
    assert "type: ${LOCK_STORE_TYPE}" in endpoints


def test_engage_run_starts_each_process_of_the_procfile_in_its_order():
    settings = Settings.from_env({})
    model = PROJECT_ROOT / "models" / "m.tar.gz"
    assert [process_command(name, settings, model) for name in PROCESSES] == [
        quieted(action_command(settings)),
        quieted(rasa_command(settings, model)),
        gateway_command(),
        runner.scheduler_command(),
        runner.notifier_command(),
        console_command(),
    ]


@pytest.mark.parametrize(
    ("name", "env", "said"),
    [
        ("gateway", {}, "Set RASA_API_TOKEN (the same on every server) first."),
        ("worker", {"RASA_API_TOKEN": "t"}, "No process called 'worker'"),
        ("rasa", {"RASA_API_TOKEN": "t", "MODEL_DIR": "/nonexistent"}, "No trained model"),
    ],
)
def test_serve_refuses_what_it_cannot_run(name, env, said, capsys, monkeypatch):
    monkeypatch.setattr(runner.os, "execve", lambda *a: pytest.fail("started something"))
    assert runner.serve(name, Settings.from_env(env)) in (1, 2)
    assert said in capsys.readouterr().err


def test_serve_becomes_the_process_with_engage_runs_environment(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(runner.os, "execve", lambda *args: started.append(args))
    monkeypatch.setattr(runner.os, "chdir", lambda path: None)
    env = {"RASA_API_TOKEN": "t", "ENGAGE_VAR_DIR": str(tmp_path), "REDIS_URL": "redis://r/0"}
    settings = Settings.from_env(env)
    runner.serve("gateway", settings)
    [(program, argv, environment)] = started
    assert argv == gateway_command() and program == argv[0]
    assert environment["LOCK_STORE_TYPE"] == "bot.lock_store.UrlRedisLockStore"
    assert environment["RASA_API_TOKEN"] == "t" and "t" not in argv
    assert build_parser().parse_args(["serve", "gateway"]).process == "gateway"


def test_the_rasa_api_token_is_made_once_in_var_and_kept_there(tmp_path):
    settings = Settings.from_env({"ENGAGE_VAR_DIR": str(tmp_path)})
    made = with_rasa_api_token(settings).rasa_api_token
    assert len(made) >= 40 and (tmp_path / "rasa_api_token").read_text() == made
    assert stat.S_IMODE((tmp_path / "rasa_api_token").stat().st_mode) == 0o600
    assert with_rasa_api_token(settings).rasa_api_token == made  # the next `make run`
    given = Settings.from_env({"ENGAGE_VAR_DIR": str(tmp_path), "RASA_API_TOKEN": "t"})
    assert with_rasa_api_token(given).rasa_api_token == "t"
    (tmp_path / "rasa_api_token").write_text("")  # cut off between making and writing it
    remade = with_rasa_api_token(settings).rasa_api_token
    assert len(remade) >= 40 and remade != made
    assert stat.S_IMODE((tmp_path / "rasa_api_token").stat().st_mode) == 0o600


def test_the_scheduler_by_hand_without_a_token_says_where_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["scheduler", "--once"]) == 2
    finally:
        get_settings.cache_clear()
    assert "or start `make run` once" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no token of its own made up
