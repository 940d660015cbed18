"""The running stack refuses strangers (issue 13): Rasa has no HTTP API and its inbox needs
our token, the action server answers only Rasa and only on 127.0.0.1, and no secret is
on any command line of `engage run`'s processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import (
    RASA_API_TOKEN,
    REST_API_TOKEN,
    TELEGRAM_WEBHOOK_SECRET,
    TWILIO_AUTH_TOKEN,
)
from tests.hostile.test_servers import LOOPBACK, listening_addresses

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {RASA_API_TOKEN}"}


def test_the_running_rasa_has_no_http_api_and_its_inbox_needs_our_token(stack):
    for method, path in [
        ("GET", "/status"),
        ("PUT", "/model"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/conversations/someone/trigger_intent"),
        ("POST", "/webhooks/rest/webhook"),
    ]:
        for headers, params in (({}, {}), (AUTH, {}), ({}, {"token": RASA_API_TOKEN})):
            answer = requests.request(
                method, stack.rasa(path), headers=headers, params=params, json={}, timeout=10
            )
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
    body = {"conversation_id": "someone", "inbox_id": 1, "text": "hi"}
    stranger = requests.post(stack.rasa("/webhooks/inbox/message"), json=body, timeout=10)
    assert (stranger.status_code, stranger.json()) == (403, {"error": "unauthorised"})


def test_the_running_action_server_answers_only_rasa_on_loopback(stack):
    base = f"http://127.0.0.1:{stack.action_port}"
    assert listening_addresses(stack.action_port) == {LOOPBACK}
    call = {"next_action": "action_record_consent", "sender_id": "x", "tracker": {}}
    assert requests.post(f"{base}/webhook", json=call, timeout=10).status_code == 403
    assert requests.get(f"{base}/actions", headers=AUTH, timeout=10).status_code == 200
    assert stack.texts("hostile-servers-1", "hi")  # and Rasa, with the token, gets answers


def process_tree(root: int) -> dict[int, str]:
    """The command lines of `root` and every process under it, by pid."""
    parents, lines = {}, {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            lines[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):  # ended meanwhile
            continue
        parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return {pid: lines[pid] for pid in tree if pid in lines}


def test_no_secret_is_on_a_command_line_of_the_running_stack(stack):
    assert stack._process is not None
    lines = process_tree(stack._process.pid).values()
    assert any(" rasa run " in line for line in lines)
    assert any("actions.server" in line for line in lines)
    assert len(lines) >= 7  # engage run, Rasa, actions, gateway, scheduler, notifier, console
    secrets = [RASA_API_TOKEN, REST_API_TOKEN, TWILIO_AUTH_TOKEN, TELEGRAM_WEBHOOK_SECRET]
    assert [line for line in lines if any(secret in line for secret in secrets)] == []
