"""Rasa's calls to our action server: one kept-alive session, strict failures, skipped actions."""

from __future__ import annotations

import pytest
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from channels.inbox import (
    _SKIPPED,
    ActionServerFailed,
    StrictActionEndpoint,
)

TOKEN = "action-token-0123456789"


@pytest.fixture
async def action_server():
    """A real HTTP server on 127.0.0.1 answering as the action server would, by action name."""
    calls: list[tuple[str, int]] = []  # (action, the client's port: one per connection)

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append((body["next_action"], request.transport.get_extra_info("peername")[1]))
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        status = {"action_rejects": 400, "action_breaks": 500}.get(body["next_action"], 200)
        return web.json_response({"events": [], "responses": [{"text": "hi"}]}, status=status)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = StrictActionEndpoint.wrapping(
        EndpointConfig(url=f"http://127.0.0.1:{port}/webhook"), 5.0, TOKEN
    )
    yield endpoint, calls
    await endpoint.close()
    await runner.cleanup()


def _call(name: str) -> dict:
    """The arguments Rasa's RemoteAction.run passes."""
    body = {"next_action": name, "sender_id": "c1", "tracker": {}}
    return {"json": body, "method": "post", "timeout": 300, "compress": False}


async def test_calls_share_one_kept_alive_connection(action_server):
    endpoint, calls = action_server
    for _ in range(3):
        assert await endpoint.request(**_call("action_store_view")) == {
            "events": [],
            "responses": [{"text": "hi"}],
        }
    assert len(calls) == 3
    assert len({port for _, port in calls}) == 1


async def test_a_rejection_is_rasas_business_and_a_failure_aborts_the_turn(action_server):
    endpoint, _ = action_server
    with pytest.raises(ClientResponseError) as rejected:
        await endpoint.request(**_call("action_rejects"))
    assert rejected.value.status == 400
    with pytest.raises(ActionServerFailed, match="500"):
        await endpoint.request(**_call("action_breaks"))


async def test_an_action_the_turn_skips_answers_nothing_without_a_call(action_server):
    endpoint, calls = action_server
    token = _SKIPPED.set(frozenset({"action_update_context"}))
    try:
        nothing = await endpoint.request(**_call("action_update_context"))
        assert nothing == {"events": [], "responses": []}
        await endpoint.request(**_call("action_store_view"))
    finally:
        _SKIPPED.reset(token)
    await endpoint.request(**_call("action_update_context"))
    assert [name for name, _ in calls] == ["action_store_view", "action_update_context"]


async def test_an_action_server_that_is_down_aborts_the_turn():
    endpoint = StrictActionEndpoint.wrapping(
        EndpointConfig(url="http://127.0.0.1:9/webhook"), 2.0, TOKEN
    )
    try:
        with pytest.raises(ActionServerFailed):
            await endpoint.request(**_call("action_store_view"))
    finally:
        await endpoint.close()


async def test_the_endpoints_own_headers_win_over_the_calls(action_server):
    endpoint, calls = action_server  # the server checks that our token came
    await endpoint.request(**_call("action_store_view"), headers={"Authorization": "Bearer x"})
    assert [name for name, _ in calls] == ["action_store_view"]


def test_a_cafile_makes_one_ssl_context_for_every_call(tmp_path):
    endpoint = StrictActionEndpoint.wrapping(
        EndpointConfig(url="http://127.0.0.1:9/webhook", cafile=None), 2.0, TOKEN
    )
    assert endpoint._ssl_context() is None
    import ssl
    import subprocess

    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    trusted = StrictActionEndpoint.wrapping(
        EndpointConfig(url="https://127.0.0.1:9/webhook", cafile=str(cert)), 2.0, TOKEN
    )
    context = trusted._ssl_context()
    assert isinstance(context, ssl.SSLContext) and trusted._ssl_context() is context
