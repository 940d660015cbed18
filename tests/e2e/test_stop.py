"""Ctrl-C stops `engage run` cleanly, and a second copy says which port is taken."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.runner import port_in_use
from bot.settings import PROJECT_ROOT
from tests.e2e.conftest import Stack, free_port

pytestmark = pytest.mark.e2e


def test_ctrl_c_is_a_clean_stop_and_a_second_copy_starts_nothing(tmp_path, fake):
    stack = Stack(
        tmp_path,
        f"sqlite:///{tmp_path / 'engage.db'}",
        f"sqlite:///{tmp_path / 'tracker.db'}",
        fake_base_url=fake.base_url,  # Telegram on: its stop printed "Cannot close..."
    )
    stack.start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT,
            env=dict(os.environ, CONSOLE_PORT=str(free_port()), **stack.env),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        code = stack.stop()
    assert second.returncode == 1, second.stdout + second.stderr
    assert second.stdout == (
        f"Another copy is running (port {stack.gateway_port} is in use): stop it first, "
        "or set GATEWAY_PORT.\n"
    )
    log = stack.log.read_text(errors="replace")
    assert code == 0
    assert "Traceback" not in log and "Cannot close a running event loop" not in log, log
    assert "Warning" not in log, log  # no libraries' deprecation warnings
    assert log.rstrip().endswith("Stopped.")
    assert "nobody can sign in to the console until an admin exists" in log
    for port in (stack.gateway_port, stack.rasa_port, stack.action_port):
        assert not port_in_use("127.0.0.1", port)  # every child stopped with us
