"""What operators watch: the counters, the database gauges, and where /metrics is served (and
refused: never through the reverse proxy)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
from aiohttp import web
from prometheus_client import REGISTRY
from sqlalchemy import update

from bot import metrics
from bot.db import Database
from bot.models import InboxMessage
from bot.rasa_client import RasaUnavailable
from bot.rasa_pool import RasaServers
from bot.services.identities import resident_for
from tests.ports import free_port
from tests.residents import published


def value(name: str, **labels: str) -> float:
    """A sample of the process's registry (0 if absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_sends_errors_and_turns_are_counted():
    before = value("engage_messages_out_total", channel="sms", purpose="reply")
    errors = value("engage_provider_errors_total", channel="sms", code="21610")
    turns = value("engage_turn_seconds_count", kind="message", outcome="ok")
    metrics.count_sent("sms", "reply", 2)
    metrics.count_provider_error("sms", "21610")
    metrics.observe_turn("message", "ok", 0.12)
    assert value("engage_messages_out_total", channel="sms", purpose="reply") == before + 2
    assert value("engage_provider_errors_total", channel="sms", code="21610") == errors + 1
    assert value("engage_turn_seconds_count", kind="message", outcome="ok") == turns + 1


def test_counters_exist_at_zero_from_the_start_so_alerts_can_see_them():
    metrics.start_counting(inbound=["telegram"], outbound=["telegram"], purposes=["checkin"])
    body, _ = metrics.exposition(None)
    text = body.decode()
    assert 'engage_messages_in_total{channel="telegram"}' in text
    assert 'engage_messages_out_total{channel="telegram",purpose="checkin"}' in text


def test_a_scheduler_pass_sets_due_and_counts_outcomes():
    sent = value("engage_checkins_total", outcome="sent")
    report = SimpleNamespace(quiet=False, due=7, sent=5, failed=1, expired=0, skipped=1)
    metrics.count_checkins(report)
    assert value("engage_checkins_due") == 7
    assert value("engage_checkins_total", outcome="sent") == sent + 5
    metrics.count_checkins(SimpleNamespace(quiet=True))  # quiet hours: nothing changes
    assert value("engage_checkins_due") == 7


def test_the_exposition_is_prometheus_text_or_openmetrics_as_asked():
    body, content_type = metrics.exposition(None)
    assert content_type.startswith("text/plain") and b"engage_turn_seconds_bucket" in body
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")


def test_inbox_and_outbox_gauges_are_read_from_the_database(database):
    published(database, ["+447700900111", "+447700900222"])
    with database.transaction() as s:
        resident = resident_for(s, "sms", "+447700900333")
        s.add(InboxMessage(resident_id=resident.id, channel="sms", text="hello"))
    with database.transaction() as s:
        s.execute(
            update(InboxMessage).values(
                received_at=datetime.now(timezone.utc) - timedelta(seconds=90)
            )
        )
    found = {
        (m.name, tuple(sorted(s.labels.items()))): s.value
        for m in metrics.DatabaseGauges(database, ("inbox", "outbox")).collect()
        for s in m.samples
    }
    assert found[("engage_database_up", ())] == 1
    assert found[("engage_inbox_depth", ())] == 1
    assert 89 <= found[("engage_inbox_oldest_age_seconds", ())] < 120
    assert found[("engage_outbox_queued", (("channel", "sms"), ("status", "queued")))] == 2


def test_a_database_that_is_down_is_reported_not_raised(tmp_path):
    down = Database("postgresql://nobody@127.0.0.1:1/none")
    try:
        samples = [s for m in metrics.DatabaseGauges(down, ("inbox",)).collect() for s in m.samples]
    finally:
        down.dispose()
    assert [(s.name, s.value) for s in samples] == [("engage_database_up", 0)]


def test_watching_again_replaces_the_gauges_instead_of_failing(database):
    metrics.watch_database(database, "inbox")
    metrics.watch_database(database, "inbox")  # a second gateway built in one process
    assert b"engage_inbox_depth" in metrics.exposition(None)[0]


async def test_a_worker_serves_healthz_and_metrics_but_not_through_the_proxy():
    port = free_port()
    ops = await metrics.OpsServer("127.0.0.1", port, lambda: {"seconds_since_pass": 1.5}).start()
    try:

        def get(path: str, **headers: str) -> requests.Response:
            return requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=5)

        health = await asyncio.to_thread(get, "/healthz")
        assert health.json() == {"status": "ok", "seconds_since_pass": 1.5}
        scraped = await asyncio.to_thread(get, "/metrics")
        assert scraped.status_code == 200 and "engage_checkins_due" in scraped.text
        proxied = await asyncio.to_thread(get, "/metrics", **{"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status_code == 404
    finally:
        await ops.stop()


def test_the_console_answers_metrics_beside_its_own_pages():
    def console(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"console"]

    app = metrics.with_metrics(console)
    statuses: list[str] = []

    def start_response(status, headers):  # type: ignore[no-untyped-def]
        statuses.append(status)

    assert app({"PATH_INFO": "/login"}, start_response) == [b"console"]
    body = b"".join(app({"PATH_INFO": "/metrics"}, start_response))
    assert b"engage_messages_in_total" in body
    app({"PATH_INFO": "/metrics", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, start_response)
    assert statuses == ["200 OK", "200 OK", "404 Not Found"]


def test_the_action_server_serves_health_and_metrics_without_our_token():
    from actions import server as action_server

    app = action_server.build("token-0123456789")
    paths = {route.path.rstrip("/") or "/" for route in app.router.routes}
    assert {"healthz", "metrics", "webhook"} <= {p.lstrip("/") for p in paths}
    assert {"/healthz", "/metrics"} <= action_server.OPEN_PATHS


def test_rasa_gets_healthz_and_metrics_at_its_root():
    from rasa.core.channels.channel import register
    from sanic import Sanic

    from bot.rasa_ops import OpsInput

    app = Sanic("ops_test")
    register([OpsInput.from_credentials(None)], app, route="/webhooks/")
    paths = {"/" + route.path.lstrip("/") for route in app.router.routes}
    assert {"/healthz", "/metrics"} <= paths


# --- several Rasa servers behind one client (bot/rasa_pool.py) ---------------------------


async def rasa_stand_in(answers: list[tuple[int, dict]]) -> tuple[web.AppRunner, str, list]:
    """A Rasa inbox channel that answers each call with the next (status, body)."""
    calls: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        calls.append(request.path)
        status, body = answers.pop(0) if answers else (200, {"messages": []})
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_post("/webhooks/inbox/{kind}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", calls


async def test_a_turn_goes_past_a_rasa_server_that_is_down():
    runner, live, calls = await rasa_stand_in([(200, {"messages": [{"text": "hi"}]})] * 4)
    dead = f"http://127.0.0.1:{free_port()}"  # nobody listens: connection refused
    servers = RasaServers([dead, live], "token")
    ok = value("engage_turn_seconds_count", kind="message", outcome="ok")
    try:
        for inbox_id in (1, 2):  # whichever server the round robin starts with
            replies = await servers.handle("c1", "hello", inbox_id, "sms", retry=False)
            assert replies == [{"text": "hi"}]
        assert await servers.trigger("c1", "start_checkin", {}) == [{"text": "hi"}]
    finally:
        await servers.close()
        await runner.cleanup()
    assert calls == ["/webhooks/inbox/message"] * 2 + ["/webhooks/inbox/trigger"]
    assert value("engage_turn_seconds_count", kind="message", outcome="ok") == ok + 2


async def test_a_turn_that_may_have_run_is_not_repeated_on_the_next_server():
    first, url_one, calls_one = await rasa_stand_in([(500, {"error": "boom"})])
    second, url_two, calls_two = await rasa_stand_in([])
    servers = RasaServers([url_one, url_two], "token")
    failed = value("engage_turn_seconds_count", kind="message", outcome="failed")
    try:
        with pytest.raises(RasaUnavailable, match="HTTP 500"):
            await servers.handle("c1", "hello", 7, "sms", retry=False)
    finally:
        await servers.close()
        await first.cleanup()
        await second.cleanup()
    assert len(calls_one) == 1 and calls_two == []  # the inbox retries it later, by id
    assert value("engage_turn_seconds_count", kind="message", outcome="failed") == failed + 1


async def test_rasas_own_503_means_not_run_so_the_next_server_takes_it():
    first, url_one, _ = await rasa_stand_in([(503, {"error": "action server unavailable"})])
    second, url_two, calls_two = await rasa_stand_in([(200, {"messages": [{"text": "ok"}]})])
    servers = RasaServers([url_one, url_two], "token")
    try:
        assert await servers.handle("c1", "hello", 8, "sms", retry=False) == [{"text": "ok"}]
    finally:
        await servers.close()
        await first.cleanup()
        await second.cleanup()
    assert calls_two == ["/webhooks/inbox/message"]
