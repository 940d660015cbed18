"""`python -m bot.console` beside a running `make run`: one line saying so, no traceback."""

from __future__ import annotations

import socket

import pytest

from bot.console import __main__ as console_main
from bot.settings import get_settings


def test_a_taken_port_is_said_in_one_line(monkeypatch, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("CONSOLE_HOST", "127.0.0.1")
        monkeypatch.setenv("CONSOLE_PORT", str(port))
        monkeypatch.setattr(console_main, "default_database", lambda: pytest.fail("opened"))
        get_settings.cache_clear()
        try:
            assert console_main.main() == 1
        finally:
            get_settings.cache_clear()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"Port {port} is in use (is `make run` going? it serves the console): stop it first,"
        " or set CONSOLE_PORT.\n"
    )
