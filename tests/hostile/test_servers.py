"""Our private servers under attack: Rasa (its inbox channel) and the action server answer
only us, take no large bodies, and no secret is on a command line (issue 13).

The action server runs as `engage run` starts it (`action_command`, `server_environment`);
Rasa's server is built as `rasa run` builds it without `--enable-api`, with our inbox
channel but no model (loading one takes a minute: tests/e2e/test_hostile_servers.py does
that against the real stack).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic

from actions import server as action_server
from actions.errors import answer_error
from bot.runner import (
    action_command,
    console_command,
    gateway_command,
    notifier_command,
    rasa_command,
    scheduler_command,
    server_environment,
)
from bot.settings import PROJECT_ROOT, Settings
from channels import inbox
from channels.inbox import InboxInput, StrictActionEndpoint
from tests.ports import free_port

TOKEN = "hostile-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRETS = {
    "RASA_API_TOKEN": TOKEN,
    "REST_API_TOKEN": "hostile-rest-token-0123456789",
    "TWILIO_AUTH_TOKEN": "hostile-twilio-token-0123456789",
    "TELEGRAM_WEBHOOK_SECRET": "hostile-telegram-secret-0123456789",
    "TELEGRAM_BOT_TOKEN": "123456:hostile-bot-token",
}
FORBIDDEN = [
    pytest.param({}, id="no-token"),
    pytest.param({"Authorization": "Bearer wrong-token-0123456789"}, id="wrong-token"),
    pytest.param({"Authorization": TOKEN}, id="token-without-bearer"),
    pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}"}, id="token-prefix"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="another-scheme"),
]


def listening_addresses(port: int) -> set[str]:
    """The local addresses something listens on at `port` (IPv4 and IPv6), from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def raw_status(port: int, request: bytes, timeout: float = 5.0) -> int:
    """Send raw bytes; the status of the answer, which must come within `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def declared_only(path: str, length: int, headers: dict[str, str]) -> bytes:
    """A POST announcing `length` bytes of body and sending none of them."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server stopped:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


# --- command lines and environments -----------------------------------------------------------


def test_no_secret_is_on_any_command_line_engage_run_starts():
    settings = Settings.from_env({"PUBLIC_BASE_URL": "https://engage.example.org", **SECRETS})
    commands = [
        rasa_command(settings, PROJECT_ROOT / "models" / "engage.tar.gz"),
        action_command(settings),
        gateway_command(),
        scheduler_command(),
        notifier_command(),
        console_command(),
    ]
    for command in commands:
        line = " ".join(command)
        assert not [name for name, secret in SECRETS.items() if secret in line], line
    assert server_environment(settings, {})["RASA_API_TOKEN"] == TOKEN


def test_rasa_is_started_without_its_http_api():
    command = rasa_command(Settings.from_env(SECRETS), PROJECT_ROOT / "models" / "m.tar.gz")
    assert "--enable-api" not in command and "--auth-token" not in command
    assert command[command.index("--interface") + 1] == "127.0.0.1"


def test_the_action_server_is_ours_and_bound_to_loopback_whatever_the_environment():
    command = action_command(Settings.from_env({"ACTION_PORT": "5999"}))
    assert command[1:] == ["-m", "actions.server", "--port", "5999"]
    assert action_server.HOST == "127.0.0.1"


def test_the_action_server_will_not_start_without_a_token():
    with pytest.raises(ValueError, match="RASA_API_TOKEN"):
        action_server.build("")


def test_the_inbox_channel_will_not_start_without_a_token():
    with pytest.raises(ValueError, match="RASA_API_TOKEN"):
        InboxInput("", 10.0)


def test_rasa_sends_our_token_to_the_action_server_and_keeps_other_headers():
    configured = EndpointConfig(url="http://127.0.0.1:5055/webhook", headers={"X-Trace": "1"})
    strict = StrictActionEndpoint.wrapping(configured, 10.0, TOKEN)
    assert strict.headers == {"X-Trace": "1", "Authorization": f"Bearer {TOKEN}"}
    assert configured.headers == {"X-Trace": "1"}


@pytest.fixture
def built(monkeypatch) -> Sanic:
    """The action server's app in this process (Sanic allows one per name unless testing)."""
    monkeypatch.setattr(Sanic, "test_mode", True)
    return action_server.build(TOKEN)


def test_the_action_server_answers_a_failing_action_without_echoing_the_request(built):
    assert built.error_handler.lookup(ValueError("+447700900123"), None) is answer_error


def test_the_body_limits_leave_headroom_and_stay_far_below_sanic_default(built):
    assert inbox.MAX_BODY_BYTES == 256 * 1024
    assert action_server.MAX_BODY_BYTES == 4 * 1024 * 1024
    assert built.config.REQUEST_MAX_SIZE == 4 * 1024 * 1024 < Sanic("x").config.REQUEST_MAX_SIZE


# --- the action server, as engage run starts it ------------------------------------------------


@pytest.fixture(scope="module")
def actions_port(tmp_path_factory) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("actions")
    settings = Settings.from_env(
        {"ACTION_PORT": str(free_port()), "ENGAGE_VAR_DIR": str(workdir), **SECRETS}
    )
    # SANIC_HOST, which rasa-sdk's own server would bind, cannot open it to the network.
    env = {**server_environment(settings, {**os.environ, **SECRETS}), "SANIC_HOST": "0.0.0.0"}
    log = workdir / "actions.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            action_command(settings), cwd=PROJECT_ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{settings.action_port}/health", process, log)
        yield settings.action_port
    finally:
        stop(process)


def test_the_action_server_listens_on_loopback_only(actions_port):
    assert listening_addresses(actions_port) == {LOOPBACK}


@pytest.mark.parametrize("headers", FORBIDDEN)
def test_the_action_server_refuses_a_caller_without_our_token(actions_port, headers):
    base = f"http://127.0.0.1:{actions_port}"
    body = {"next_action": "action_record_consent", "sender_id": "x", "tracker": {}}
    called = requests.post(f"{base}/webhook", json=body, headers=headers, timeout=5)
    assert (called.status_code, called.json()) == (403, {"error": "unauthorised"})
    listed = requests.get(f"{base}/actions", headers=headers, timeout=5)
    assert (listed.status_code, listed.json()) == (403, {"error": "unauthorised"})


def test_the_action_server_answers_us(actions_port):
    listed = requests.get(f"http://127.0.0.1:{actions_port}/actions", headers=AUTH, timeout=5)
    assert listed.status_code == 200
    assert {"name": "action_record_consent"} in listed.json()


def test_the_action_server_refuses_a_stranger_before_reading_the_body(actions_port):
    request = declared_only("/webhook", 3_000_000, {"Content-Type": "application/json"})
    assert raw_status(actions_port, request, timeout=5) == 403


def test_the_action_server_refuses_a_body_over_4_mib_before_reading_it(actions_port):
    request = declared_only("/webhook", 4 * 1024 * 1024 + 1, {**AUTH})
    assert raw_status(actions_port, request, timeout=5) == 413


def test_the_action_server_reads_a_tracker_under_4_mib(actions_port):
    body = {
        "next_action": "action_that_does_not_exist",
        "sender_id": "x",
        "tracker": {"events": [{"event": "bot", "text": "x" * 4_000_000}]},
        "version": "3.6.21",
    }
    answer = requests.post(
        f"http://127.0.0.1:{actions_port}/webhook", json=body, headers=AUTH, timeout=10
    )
    assert answer.status_code == 404  # read and parsed: the action is unknown
    assert answer.json()["action_name"] == "action_that_does_not_exist"


def test_the_action_server_answers_bad_json_with_a_short_400(actions_port):
    answer = requests.post(
        f"http://127.0.0.1:{actions_port}/webhook",
        data=b"{not json, my number is +447700900123",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert "+447700900123" not in answer.text and "Traceback" not in answer.text


def test_the_action_server_allows_no_browser_origin(actions_port):
    preflight = requests.options(
        f"http://127.0.0.1:{actions_port}/webhook",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=5,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


# --- Rasa's server with our inbox channel ------------------------------------------------------

# What `rasa run` (without --enable-api) builds, minus loading a model.
RASA_WITHOUT_MODEL = """
import sys
from rasa.core.run import configure_app
from channels.inbox import InboxInput

app = configure_app([InboxInput.from_credentials(None)], enable_api=False)
app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
"""


@pytest.fixture(scope="module")
def rasa_port(tmp_path_factory) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("rasa")
    port = free_port()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", **SECRETS}
    log = workdir / "rasa.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", RASA_WITHOUT_MODEL, str(port)], cwd=PROJECT_ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/webhooks/inbox/", process, log)
        yield port
    finally:
        stop(process)


@pytest.mark.parametrize("path", ["/webhooks/inbox/message", "/webhooks/inbox/trigger"])
@pytest.mark.parametrize("headers", FORBIDDEN)
def test_rasa_inbox_refuses_a_caller_without_our_token(rasa_port, path, headers):
    body = {"conversation_id": "c1", "inbox_id": 1, "text": "hi", "intent": "greet"}
    answer = requests.post(f"http://127.0.0.1:{rasa_port}{path}", json=body, headers=headers)
    assert (answer.status_code, answer.json()) == (403, {"error": "unauthorised"})


def test_rasa_inbox_lets_us_in(rasa_port):
    body = {"conversation_id": "c1", "inbox_id": 1, "text": "hi"}
    answer = requests.post(
        f"http://127.0.0.1:{rasa_port}/webhooks/inbox/message", json=body, headers=AUTH, timeout=5
    )
    assert (answer.status_code, answer.json()) == (503, {"error": "no model loaded"})


def test_rasa_refuses_a_body_over_256_kib_before_reading_it(rasa_port):
    request = declared_only("/webhooks/inbox/message", 256 * 1024 + 1, {**AUTH})
    assert raw_status(rasa_port, request, timeout=5) == 413


def test_rasa_reads_a_body_under_256_kib(rasa_port):
    body = {"conversation_id": "c1", "inbox_id": 1, "text": "x" * 200_000}
    answer = requests.post(
        f"http://127.0.0.1:{rasa_port}/webhooks/inbox/message", json=body, headers=AUTH, timeout=5
    )
    assert answer.status_code == 503  # read; there is just no model here


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/status"),
        ("GET", "/version"),
        ("PUT", "/model"),
        ("POST", "/model/train"),
        ("DELETE", "/model"),
        ("GET", "/conversations/c1/tracker"),
        ("POST", "/conversations/c1/tracker/events"),
        ("POST", "/conversations/c1/trigger_intent"),
        ("POST", "/webhooks/rest/webhook"),
    ],
)
def test_rasa_has_no_http_api_even_with_our_token(rasa_port, method, path):
    url = f"http://127.0.0.1:{rasa_port}{path}"
    for headers, params in (({}, {}), (AUTH, {}), ({}, {"token": TOKEN})):
        answer = requests.request(method, url, headers=headers, params=params, json={}, timeout=5)
        assert answer.status_code in (404, 405), (method, path, answer.status_code)


def test_rasas_tracker_store_logs_sql_errors_without_their_parameters(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    from channels.inbox import InboxInput

    InboxInput("token", 5.0)  # Rasa makes its channels before its tracker store
    store = SQLTrackerStore(dialect="sqlite", db=str(tmp_path / "tracker.db"))
    assert store.engine.hide_parameters
    store.engine.dispose()
