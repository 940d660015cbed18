"""End to end: `engage demo` starts the real stack on its own database with the fake
providers; an update published there, and a resident's SMS, come out as masked lines on
its terminal; Ctrl-C stops it; the real database is never touched (issue 18, point 12)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.db import Database
from bot.demo.run import SIGN_IN_EMAIL
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.settings import PROJECT_ROOT
from tests.e2e.conftest import MODEL
from tests.ports import free_port

pytestmark = pytest.mark.e2e

PHONE_LINE = re.compile(r"^\d\d:\d\d:\d\d (SMS     |Telegram) to \*+\d{3}: (.+)$", re.MULTILINE)


def wait_for(log: Path, process: subprocess.Popen, pattern: str, timeout: float) -> str:
    """The demo's output once `pattern` appears in it; fails if it exits or times out."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        if re.search(pattern, text, re.MULTILINE):
            return text
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"waited for {pattern!r}; the demo said:\n{text[-4000:]}")
        time.sleep(0.3)


def test_the_demo_prints_each_message_to_a_phone_and_stops_cleanly(tmp_path):
    if not MODEL.exists():
        pytest.fail("no trained model: run `make train` (make test does) first")
    real = tmp_path / "real.db"
    ports = {name: str(free_port()) for name in (
        "GATEWAY_PORT", "RASA_PORT", "ACTION_PORT", "CONSOLE_PORT", "SCHEDULER_PORT",
        "NOTIFIER_PORT",
    )}  # fmt: skip
    env = dict(
        os.environ,
        ENGAGE_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{real}",
        TRACKER_DATABASE_URL=f"sqlite:///{tmp_path / 'real-tracker.db'}",
        DEMO_PORT_OFFSET="0",  # the free ports above, as they are
        **ports,
    )
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "demo", "--residents", "120"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        started = wait_for(log, demo, r"^Messages to phones:$", timeout=240)
        assert f"Officer console:     http://127.0.0.1:{ports['CONSOLE_PORT']}" in started
        assert f"Demo sign-in:        {SIGN_IN_EMAIL}" in started
        assert re.search(r"Password: +demo-\S{12}", started)
        assert "120 residents" in started
        assert "Chat in a terminal" not in started  # `make chat` talks to `make run` only

        # An officer publishes an update in the demo: the demo's notifier sends it.
        database = Database(f"sqlite:///{tmp_path / 'var' / 'demo' / 'engage.db'}")
        with database.transaction() as s:
            update = draft_update(
                s,
                UpdateDraft(
                    title="Bins",
                    you_said="the bins are missed",
                    we_did="Crews now check every street before they finish.",
                    themes=["waste_recycling"],
                ),
                created_by=SIGN_IN_EMAIL,
            )
            queued = publish(s, update.id)
        database.dispose()
        assert queued > 0
        text = wait_for(log, demo, r"^\d\d:\d\d:\d\d .*Crews now check every street", 60)
        sent = [m for m in PHONE_LINE.finditer(text) if "Crews now check" in m[2]]
        assert len(sent) >= 1

        # A resident writes by SMS (`engage demo text`): the bot's reply is printed too.
        texted = subprocess.run(
            [sys.executable, "-m", "bot.cli", "demo", "text", "hi"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert texted.returncode == 0, texted.stdout + texted.stderr
        text = wait_for(log, demo, r"^\d\d:\d\d:\d\d SMS      to \*{10}001: ", 60)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                demo.kill()
    output = log.read_text(errors="replace")
    assert code == 0 and output.rstrip().endswith("Stopped."), output[-2000:]
    assert "+44770090" not in output  # every number masked
    assert not real.exists()  # the real database was never created, let alone written
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["demo"]
