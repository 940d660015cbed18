"""The inbox worker tells Rasa what a turn can leave out: the update check, for most."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.inbox_worker import InboxWorker
from bot.models import utcnow
from bot.outbound import Outbound
from bot.rasa_pool import rasa_for
from bot.services.inbound import Incoming, accept
from bot.services.reactions import UPDATE_CONTEXT_ACTION
from bot.settings import Settings
from tests.residents import add_resident, update_sent_to

TOLD, UNTOLD = "+447700900001", "+447700900002"


async def test_a_turn_leaves_the_update_check_out_unless_an_update_was_sent(database, tmp_path):
    asked: list[dict] = []

    async def message(request: web.Request) -> web.Response:
        asked.append(await request.json())
        return web.json_response({"messages": []})

    app = web.Application()
    app.router.add_post("/webhooks/inbox/message", message)
    rasa_server = TestServer(app)
    await rasa_server.start_server()
    now = utcnow()
    with database.transaction() as s:
        update_sent_to(s, add_resident(s, "sms", TOLD), now)
        add_resident(s, "sms", UNTOLD)
        accept(s, Incoming("sms", TOLD, "yes it helped"), now)
        accept(s, Incoming("sms", UNTOLD, "the buses are late"), now)
    settings = Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(tmp_path),
            "QUIET_HOURS": "off",
            "RASA_URL": str(rasa_server.make_url("")).rstrip("/"),
            "RASA_API_TOKEN": "test-api-token-0123456789",
        }
    )
    rasa = rasa_for(settings)  # as `engage run` makes it
    try:
        worker = InboxWorker(database, rasa, Outbound(database, settings, {}))
        assert await worker.run_once() == 2
    finally:
        await rasa.close()
        await rasa_server.close()
    assert {body["text"]: body["skip_actions"] for body in asked} == {
        "yes it helped": [],
        "the buses are late": [UPDATE_CONTEXT_ACTION],
    }


async def test_a_rest_turn_is_recorded_offered_and_finished_in_one_transaction(database, tmp_path):
    """Its replies go back in the HTTP answer: nothing is left to do after recording them."""
    from sqlalchemy import event, select

    from bot.models import InboxMessage, InboxStatus, PendingChoice

    buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]

    async def message(request: web.Request) -> web.Response:
        return web.json_response({"messages": [{"text": "Can we keep it?", "buttons": buttons}]})

    app = web.Application()
    app.router.add_post("/webhooks/inbox/message", message)
    rasa_server = TestServer(app)
    await rasa_server.start_server()
    with database.transaction() as s:
        accept(s, Incoming("rest", "tester-1", "hi"), utcnow())
    settings = Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(tmp_path),
            "RASA_URL": str(rasa_server.make_url("")).rstrip("/"),
            "RASA_API_TOKEN": "test-api-token-0123456789",
        }
    )
    rasa = rasa_for(settings)
    commits: list[object] = []
    count = commits.append  # one bound method, to remove it again
    event.listen(database.engine, "commit", count)
    try:
        worker = InboxWorker(database, rasa, Outbound(database, settings, {}))
        assert await worker.run_once() == 1
    finally:
        event.remove(database.engine, "commit", count)
        await rasa.close()
        await rasa_server.close()
    assert len(commits) == 2  # the claim, then the answer recorded, offered and finished
    with database.transaction() as s:
        assert s.scalars(select(InboxMessage.status)).all() == [InboxStatus.DONE]
        assert s.scalars(select(PendingChoice.payloads)).all() == ['["/affirm", "/deny"]']


async def test_a_slow_turn_holds_up_no_other_resident_and_its_next_message_waits(
    database, tmp_path
):
    """A place that frees is filled at once; a resident's messages still go one at a time."""
    import asyncio

    from sqlalchemy import select

    from bot.models import InboxMessage, InboxStatus
    from tests.bot.test_gateway import eventually

    release = asyncio.Event()
    reached: list[str] = []

    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        reached.append(body["text"])
        if body["text"] == "slow first":
            await release.wait()
        return web.json_response({"messages": [{"text": f"re: {body['text']}"}]})

    app = web.Application()
    app.router.add_post("/webhooks/inbox/message", message)
    rasa_server = TestServer(app)
    await rasa_server.start_server()
    settings = Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(tmp_path),
            "RASA_URL": str(rasa_server.make_url("")).rstrip("/"),
            "RASA_API_TOKEN": "test-api-token-0123456789",
        }
    )
    rasa = rasa_for(settings)
    worker = InboxWorker(database, rasa, Outbound(database, settings, {}), concurrency=2)

    def send(sender: str, text: str) -> None:
        with database.transaction() as s:
            accept(s, Incoming("rest", sender, text), utcnow())
        worker.nudge()

    def status(text: str) -> str:
        with database.transaction() as s:
            return s.scalar(select(InboxMessage.status).where(InboxMessage.text == text))

    working = asyncio.create_task(worker.run_forever())
    try:
        send("tester-slow", "slow first")
        await eventually(lambda: reached == ["slow first"], timeout=10)
        send("tester-slow", "slow second")  # waits behind the first, in flight
        send("tester-other", "someone else")  # takes the free place at once
        await eventually(lambda: status("someone else") == InboxStatus.DONE, timeout=10)
        assert reached == ["slow first", "someone else"]
        assert status("slow first") == InboxStatus.PENDING
        assert status("slow second") == InboxStatus.PENDING
        release.set()
        await eventually(lambda: status("slow second") == InboxStatus.DONE, timeout=10)
        assert reached == ["slow first", "someone else", "slow second"]
    finally:
        working.cancel()
        await asyncio.gather(working, return_exceptions=True)
        await rasa.close()
        await rasa_server.close()


@asynccontextmanager
async def _running_worker(
    database, tmp_path, monkeypatch, message
) -> AsyncIterator[tuple[InboxWorker, list[object]]]:
    """A worker running against a fake Rasa answering with `message`, and its claims.

    The worker's poll is an hour: a message it is not woken for waits the whole test.
    """
    import asyncio

    import bot.inbox_worker

    monkeypatch.setattr(bot.inbox_worker, "POLL_S", 3600.0)
    app = web.Application()
    app.router.add_post("/webhooks/inbox/message", message)
    rasa_server = TestServer(app)
    await rasa_server.start_server()
    settings = Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(tmp_path),
            "RASA_URL": str(rasa_server.make_url("")).rstrip("/"),
            "RASA_API_TOKEN": "test-api-token-0123456789",
        }
    )
    rasa = rasa_for(settings)
    worker = InboxWorker(database, rasa, Outbound(database, settings, {}))
    claims: list[object] = []
    claim = worker._claim

    def counted(*args):
        claims.append(args)
        return claim(*args)

    monkeypatch.setattr(worker, "_claim", counted)
    working = asyncio.create_task(worker.run_forever())
    try:
        yield worker, claims
    finally:
        working.cancel()
        await asyncio.gather(working, return_exceptions=True)
        await rasa.close()
        await rasa_server.close()


async def test_one_turn_at_a_time_costs_one_claim_and_a_resident_next_message_is_not_kept_waiting(
    database, tmp_path, monkeypatch
):
    """No claim that finds nothing after each turn; a message left behind one in flight is
    claimed as that turn ends, not at the next poll."""
    import asyncio

    from sqlalchemy import select

    from bot.models import InboxMessage, InboxStatus
    from tests.bot.test_gateway import eventually

    release = asyncio.Event()

    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        if body["text"] == "wait for me":
            await release.wait()
        return web.json_response({"messages": [{"text": f"re: {body['text']}"}]})

    def status(text: str) -> str:
        with database.transaction() as s:
            return s.scalar(select(InboxMessage.status).where(InboxMessage.text == text))

    async with _running_worker(database, tmp_path, monkeypatch, message) as (worker, claims):

        def send(sender: str, text: str) -> None:
            with database.transaction() as s:
                accept(s, Incoming("rest", sender, text), utcnow())
            worker.nudge()

        await eventually(lambda: len(claims) == 1, timeout=10)  # the first look, empty
        for turn in range(1, 4):
            text = f"message {turn}"
            send("tester-1", text)
            await eventually(lambda t=text: status(t) == InboxStatus.DONE, timeout=10)
            await asyncio.sleep(0.1)  # time for a claim after the turn, were there one
            assert len(claims) == 1 + turn

        send("tester-2", "wait for me")
        await eventually(lambda: len(claims) == 5, timeout=10)
        send("tester-2", "and me after")  # its claim finds it behind the first
        await eventually(lambda: len(claims) == 6, timeout=10)
        assert status("and me after") == InboxStatus.PENDING
        release.set()
        await eventually(lambda: status("and me after") == InboxStatus.DONE, timeout=10)


async def test_a_message_accepted_by_an_idle_worker_starts_its_turn_in_the_accepting_transaction(
    database, tmp_path, monkeypatch
):
    """No claim of its own: a REST turn one at a time is two commits, the accept (with the
    claim) and the answer; a resident's message behind one in flight waits its turn."""
    import asyncio

    from sqlalchemy import event

    from tests.bot.test_gateway import eventually

    release = asyncio.Event()
    reached: list[str] = []

    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        reached.append(body["text"])
        if body["text"] == "wait for me":
            await release.wait()
        return web.json_response({"messages": [{"text": f"re: {body['text']}"}]})

    async with _running_worker(database, tmp_path, monkeypatch, message) as (worker, claims):
        # The loop's first look, committed (it notes that nothing is left once it is).
        await eventually(lambda: len(claims) == 1 and not worker._more, timeout=10)
        commits: list[object] = []
        count = commits.append
        event.listen(database.engine, "commit", count)
        try:
            for turn in range(1, 4):
                accepted = await worker.accept(Incoming("rest", "tester-1", f"message {turn}"))
                assert accepted.claimed is not None
                replies = await worker.replies_to(accepted.inbox_id, timeout=10)
                assert replies == [{"text": f"re: message {turn}"}]
                await asyncio.sleep(0.1)  # time for a claim after the turn, were there one
            assert len(commits) == 2 * 3
        finally:
            event.remove(database.engine, "commit", count)
        assert len(claims) == 1

        first = await worker.accept(Incoming("rest", "tester-2", "wait for me"))
        behind = await worker.accept(Incoming("rest", "tester-2", "and me after"))
        assert first.claimed is not None and behind.claimed is None
        await eventually(lambda: len(claims) == 2, timeout=10)  # woken; finds it behind
        await eventually(lambda: reached[-1] == "wait for me", timeout=10)
        await asyncio.sleep(0.1)  # time for the message behind to overtake, were it able to
        assert reached[-1] == "wait for me"
        release.set()
        assert await worker.replies_to(behind.inbox_id, timeout=10) == [
            {"text": "re: and me after"}
        ]
        assert reached[-2:] == ["wait for me", "and me after"]


async def test_while_a_turn_is_in_flight_a_message_accepted_is_claimed_by_the_loop(
    database, tmp_path, monkeypatch
):
    """Under load the loop claims, oldest first and several at once; it still takes a
    message at once while places are free."""
    import asyncio

    from tests.bot.test_gateway import eventually

    release = asyncio.Event()

    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        if body["text"] == "slow":
            await release.wait()
        return web.json_response({"messages": [{"text": f"re: {body['text']}"}]})

    async with _running_worker(database, tmp_path, monkeypatch, message) as (worker, claims):
        await eventually(lambda: len(claims) == 1 and not worker._more, timeout=10)
        slow = await worker.accept(Incoming("rest", "tester-slow", "slow"))
        assert slow.claimed is not None
        other = await worker.accept(Incoming("rest", "tester-other", "meanwhile"))
        assert other.claimed is None
        assert await worker.replies_to(other.inbox_id, timeout=10) == [{"text": "re: meanwhile"}]
        assert len(claims) == 2
        release.set()
        assert await worker.replies_to(slow.inbox_id, timeout=10) == [{"text": "re: slow"}]


async def test_a_message_claimed_as_it_is_accepted_is_processed_if_the_webhook_gives_up(
    database, tmp_path, monkeypatch
):
    """The webhook's request cancelled mid-accept: the claimed turn still runs."""
    import asyncio

    from sqlalchemy import select

    from bot.models import InboxMessage, InboxStatus
    from tests.bot.test_gateway import eventually

    async def message(request: web.Request) -> web.Response:
        return web.json_response({"messages": [{"text": "ok"}]})

    def status() -> str | None:
        with database.transaction() as s:
            return s.scalar(select(InboxMessage.status))

    async with _running_worker(database, tmp_path, monkeypatch, message) as (worker, claims):
        await eventually(lambda: len(claims) == 1 and not worker._more, timeout=10)
        hold = asyncio.Event()
        entered = asyncio.Event()
        loop = asyncio.get_running_loop()
        claim = worker._claim_accepted

        def slow_claim(*args):
            loop.call_soon_threadsafe(entered.set)
            asyncio.run_coroutine_threadsafe(hold.wait(), loop).result(timeout=10)
            return claim(*args)

        monkeypatch.setattr(worker, "_claim_accepted", slow_claim)
        webhook = asyncio.create_task(worker.accept(Incoming("rest", "tester-1", "hello")))
        await asyncio.wait_for(entered.wait(), 10)
        webhook.cancel()
        hold.set()
        await eventually(lambda: status() == InboxStatus.DONE, timeout=10)
        assert len(claims) == 1
