"""The inbox worker tells Rasa what a turn can leave out: the update check, for most."""

from __future__ import annotations

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
