"""The workers under hostile conditions: providers that refuse, throttle, fail, time out or
come back after an outage; stale workers; a database and an action that raise.

Each test also checks (`no_personal_data_at_error`) that no phone number, chat id or
message text reached any log record at ERROR or above, tracebacks included.

The notifier's clock is 10:00 UTC today (never in quiet hours), near the real time the
outbox rows are queued at and the fake provider stamps its messages with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sanic import Sanic
from sqlalchemy import insert, select, update

import bot.notifier
import channels.twilio_sms
from bot.models import ChannelIdentity, Checkin, OutboundMessage, OutboxMessage, Resident
from bot.notifier import Notifier
from bot.outbound import senders_for
from bot.services.identities import resident_at
from bot.services.outbox import BACKOFF_S
from tests.bot import conftest as bot_fixtures
from tests.bot.test_notifier import TEXT, Clock, another_update, drain
from tests.bot.test_scheduler import T0, StandInRasa, one_pass
from tests.bot.test_scheduler import residents as due_residents
from tests.residents import YOU_SAID, numbers, published

channel_settings = bot_fixtures.channel_settings  # the fixture: SMS and Telegram to the fake

TODAY = datetime.now(timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0)
NUMBER = numbers(1)[0]
CHAT, OTHER_CHAT = "880011", "880012"
WORDS = "the alley behind 14 Elm Road floods and I am scared to walk home"
PERSONAL = (*numbers(4), CHAT, OTHER_CHAT, TEXT, YOU_SAID, WORDS, "+447700900", "900000")


def at(**delta: float) -> datetime:
    return TODAY + timedelta(**delta)


@pytest.fixture(autouse=True)
def no_personal_data_at_error(caplog):
    """After each test: nothing personal in any log record at ERROR (or worse)."""
    yield
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in caplog.get_records("call"):
        if record.levelno >= logging.ERROR:
            logged = formatter.format(record)
            assert not [p for p in PERSONAL if p in logged], logged


def queued_at(database, moment: datetime) -> None:
    """Every outbox row was queued at `moment`."""
    with database.transaction() as s:
        s.execute(update(OutboxMessage).values(created_at=moment))


def rows(database) -> list[OutboxMessage]:
    with database.transaction() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# Refusals ----------------------------------------------------------------------------


def test_twilio_21610_records_the_resident_as_opted_out_and_is_never_retried(
    database, channel_settings, fake
):
    published(database, [NUMBER])
    fake.twilio_errors[NUMBER] = 21610  # they replied STOP to the carrier
    report = drain(database, channel_settings, Clock(TODAY))
    assert (report.sent, report.failed, report.retrying) == (0, 1, 0)
    [row] = rows(database)
    assert (row.status, row.error_code) == ("opted_out", "21610")
    with database.transaction() as s:
        assert resident_at(s, "sms", NUMBER).opted_out_at is not None
    another_update(database)  # not even queued for them
    for later in (at(minutes=1), at(hours=3)):
        assert drain(database, channel_settings, Clock(later)).sent == 0
    assert len(fake.sms_to(NUMBER)) == 1
    assert [(r.status, r.error_code) for r in rows(database)] == [("opted_out", "21610")]


def test_telegram_403_marks_the_chat_unreachable_and_is_never_retried(
    database, channel_settings, fake
):
    published(database, [], [CHAT])
    fake.telegram_errors[CHAT] = [403]  # they blocked the bot
    report = drain(database, channel_settings, Clock(TODAY))
    assert (report.sent, report.failed, report.retrying) == (0, 1, 0)
    with database.transaction() as s:
        identity = s.scalars(select(ChannelIdentity).where(ChannelIdentity.address == CHAT)).one()
        assert identity.unreachable_at is not None
    another_update(database)  # not even queued for them
    for later in (at(minutes=1), at(hours=3)):
        assert drain(database, channel_settings, Clock(later)).sent == 0
    assert len(fake.telegram_to(CHAT)) == 1
    assert [(r.status, r.error_code) for r in rows(database)] == [("failed", "403")]


# Throttling, failures and timeouts --------------------------------------------------------


def test_telegram_429_is_retried_after_its_retry_after_and_not_before(
    database, channel_settings, fake
):
    published(database, [], [CHAT])
    fake.telegram_errors[CHAT] = [429]
    fake.telegram_retry_after = 300  # longer than the first backoff (30 s)
    report = drain(database, channel_settings, Clock(TODAY))
    assert (report.sent, report.retrying) == (0, 1)
    [row] = rows(database)
    assert (row.status, row.error_code, row.next_attempt_at) == ("queued", "429", at(seconds=300))
    assert drain(database, channel_settings, Clock(at(seconds=299))).sent == 0
    assert len(fake.telegram_to(CHAT)) == 1  # not tried again before then
    assert drain(database, channel_settings, Clock(at(seconds=300))).sent == 1
    assert len(fake.telegram_to(CHAT)) == 2 and rows(database)[0].status == "sent"


def test_twilio_5xx_is_retried_with_a_growing_backoff(database, channel_settings, fake):
    published(database, [NUMBER])
    fake.twilio_statuses[NUMBER] = [503, 502]
    first, second = BACKOFF_S[0], BACKOFF_S[0] + BACKOFF_S[1]  # 30 s, then 120 s more
    assert drain(database, channel_settings, Clock(TODAY)).retrying == 1
    assert rows(database)[0].next_attempt_at == at(seconds=first)
    assert drain(database, channel_settings, Clock(at(seconds=first - 1))).sent == 0
    assert drain(database, channel_settings, Clock(at(seconds=first))).retrying == 1
    [row] = rows(database)
    assert (row.status, row.error_code, row.attempts) == ("queued", "20500", 2)
    assert row.next_attempt_at == at(seconds=second)
    assert drain(database, channel_settings, Clock(at(seconds=second - 1))).sent == 0
    assert drain(database, channel_settings, Clock(at(seconds=second))).sent == 1
    assert len(fake.sms_to(NUMBER)) == 3 and len(fake.accepted_sms()) == 1


def test_an_sms_timeout_is_in_doubt_and_never_sent_twice(
    database, channel_settings, fake, monkeypatch
):
    """Twilio took the SMS but its answer came after our timeout: the retry finds it."""
    monkeypatch.setattr(channels.twilio_sms, "TIMEOUT_S", 0.3)
    fake.delay_s = 1.0
    published(database, [NUMBER])
    report = drain(database, channel_settings, Clock(TODAY))
    assert (report.sent, report.retrying) == (0, 1)
    assert (rows(database)[0].status, rows(database)[0].error_code) == ("queued", "timeout")
    deadline = time.monotonic() + 5
    while not fake.accepted_sms() and time.monotonic() < deadline:  # the late answer
        time.sleep(0.05)
    [taken] = fake.accepted_sms()
    fake.delay_s = 0.0
    report = drain(database, channel_settings, Clock(at(seconds=BACKOFF_S[0])))
    assert (report.sent, report.reconciled) == (1, 1)
    assert fake.accepted_sms() == [taken]  # asked Twilio, did not send again
    assert (rows(database)[0].status, rows(database)[0].provider_id) == ("sent", taken.sid)


# Validity --------------------------------------------------------------------------------


def test_updates_queued_longer_than_their_validity_are_expired_not_sent(
    database, channel_settings, fake
):
    published(database, [NUMBER], [CHAT])
    queued_at(database, at(hours=-48))  # MESSAGE_VALIDITY_HOURS=48 ago: a long outage
    report = drain(database, channel_settings, Clock(TODAY))
    assert (report.sent, report.expired) == (0, 2)
    assert fake.calls == []
    assert [r.status for r in rows(database)] == ["expired", "expired"]
    assert drain(database, channel_settings, Clock(at(hours=1))).sent == 0  # and never later


def test_an_update_retried_into_a_long_outage_expires_instead_of_going_out_late(
    database, channel_settings, fake
):
    published(database, [NUMBER])
    queued_at(database, TODAY)
    fake.twilio_statuses[NUMBER] = [503]
    assert drain(database, channel_settings, Clock(TODAY)).retrying == 1
    # The notifier (or the network) is down for two days; then everything works again.
    report = drain(database, channel_settings, Clock(at(hours=48)))
    assert (report.sent, report.expired) == (0, 1)
    assert len(fake.sms_to(NUMBER)) == 1 and fake.accepted_sms() == []
    assert rows(database)[0].status == "expired"


def test_sms_updates_carry_the_time_left_as_twilios_validity_period(
    database, channel_settings, fake
):
    """ValidityPeriod: whole seconds, at most 36,000 (the fake refuses others, as Twilio)."""
    older, newer = numbers(2)
    published(database, [older, newer])
    with database.transaction() as s:
        for number, queued in ((older, at(hours=-47)), (newer, TODAY)):
            resident_id = resident_at(s, "sms", number).id
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.resident_id == resident_id)
                .values(created_at=queued)
            )
    assert drain(database, channel_settings, Clock(TODAY)).sent == 2
    validity = {c.params["To"]: c.params["ValidityPeriod"] for c in fake.accepted_sms()}
    assert validity == {older: "3600", newer: "36000"}  # 1 hour left; 48 left, capped at 10


def test_a_telegram_update_whose_validity_ends_before_it_leaves_is_not_sent(
    database, channel_settings, fake, monkeypatch
):
    """Telegram has no validity period of its own: ours is checked as each send leaves."""
    published(database, [], [CHAT])
    queued_at(database, TODAY)
    clock = Clock(TODAY)
    claim_due = bot.notifier.claim_due

    def claim_then_stall(*args, **kwargs):  # type: ignore[no-untyped-def]
        claim = claim_due(*args, **kwargs)  # valid when claimed...
        clock.now = at(hours=48)  # ...but the send waited until its validity ended
        return claim

    monkeypatch.setattr(bot.notifier, "claim_due", claim_then_stall)
    report = drain(database, channel_settings, clock)
    assert (report.sent, report.expired) == (0, 1)
    assert fake.telegram_to(CHAT) == [] and rows(database)[0].status == "expired"


def test_a_checkin_claimed_past_its_validity_is_not_sent(database, channel_settings, fake):
    settings = replace(channel_settings, checkin_jitter_minutes=0)
    due_residents(database, 2)  # due at day 30 after T0, on Telegram and SMS
    rasa = StandInRasa()
    report = one_pass(database, settings, T0 + timedelta(days=32, minutes=1), rasa)
    assert (report.due, report.sent, report.expired) == (2, 0, 2)
    assert rasa.calls == [] and fake.calls == []
    with database.transaction() as s:
        assert s.scalars(select(Checkin.status)).all() == ["expired", "expired"]


# Stale workers ---------------------------------------------------------------------------


def test_a_stale_workers_late_write_changes_nothing_and_the_new_owners_lands(
    database, channel_settings, fake, caplog
):
    """Worker A claims, its send hangs past the lease, worker B claims the row and sends
    again (on Telegram, the duplicate fencing cannot prevent), A's answer comes first:
    A's write is dropped, B's lands."""
    published(database, [], [CHAT])
    queued_at(database, TODAY)
    fake.delay_s = 1.0
    a = threading.Thread(target=drain, args=(database, channel_settings, Clock(TODAY)))
    with caplog.at_level(logging.INFO, logger="bot.services.outbox"):
        a.start()
        deadline = time.monotonic() + 5
        while rows(database)[0].status != "sending" and time.monotonic() < deadline:
            time.sleep(0.01)
        a_token = rows(database)[0].claim_token
        after_lease = Clock(at(seconds=61))  # A's 60-second lease has run out
        report = drain(database, channel_settings, after_lease)
        a.join(timeout=10)
    assert (report.sent, report.resent_in_doubt) == (1, 1)
    sends = fake.telegram_to(CHAT)
    assert len(sends) == 2  # A's and B's
    [row] = rows(database)
    with database.transaction() as s:
        recorded = s.scalars(select(OutboundMessage.provider_id)).all()
    assert row.status == "sent" and row.claim_token != a_token
    assert recorded == [row.provider_id]  # B's message id, recorded once
    assert row.sent_at == at(seconds=61)  # B's clock, not A's
    dropped = [r.getMessage() for r in caplog.records if r.name == "bot.services.outbox"]
    assert dropped == [
        f"Outbox row {row.id}: a late record of a send was dropped; "
        "the row's claim has been taken over since."
    ]


# Errors ----------------------------------------------------------------------------------


def test_a_database_error_logs_no_personal_data(
    database, channel_settings, fake, monkeypatch, caplog
):
    """A statement with a phone number in it fails: the notifier logs the failure at ERROR
    without the number (SQLAlchemy's hide_parameters; PostgreSQL's row details withheld)."""
    published(database, [NUMBER])

    def duplicate_identity(session, *args, **kwargs):  # type: ignore[no-untyped-def]
        resident_id = session.scalars(select(Resident.id)).first()
        session.execute(  # the number is theirs already: a unique violation
            insert(ChannelIdentity).values(resident_id=resident_id, channel="sms", address=NUMBER)
        )

    monkeypatch.setattr(bot.notifier, "claim_due", duplicate_identity)
    notifier = Notifier(
        database, channel_settings, senders_for(channel_settings), clock=Clock(TODAY)
    )

    async def one_failing_pass() -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(notifier._drain_forever(idle_s=10), timeout=1.0)

    asyncio.run(one_failing_pass())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Notifier pass failed"]
    logged = logging.Formatter().format(errors[0])
    assert "IntegrityError" in logged and "channel_identities" in logged  # it did fail...
    assert NUMBER not in logged  # ...and says so without the number
    assert fake.calls == []


def _tracker(text: str) -> dict:
    """The tracker Rasa posts with an action call (as rasa-sdk's Tracker.from_dict reads it)."""
    return {
        "sender_id": "c0ffee" * 5 + "00",
        "slots": {"consent": "given", "stage": None},
        "latest_message": {
            "text": text,
            "intent": {"name": "share_view", "confidence": 0.99},
            "entities": [],
        },
        "events": [{"event": "user", "text": text, "input_channel": "sms"}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }


async def _post(app: Sanic, body: bytes) -> tuple[int, str]:
    """POST /webhook to the action server's app, in process (ASGI, with its start-up)."""
    queue: asyncio.Queue = asyncio.Queue()
    started: list[dict] = []

    async def send(message: dict) -> None:
        started.append(message)

    await queue.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, queue.get, send))
    while not started:
        await asyncio.sleep(0.01)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://actions") as client:
            answer = await client.post("/webhook", content=body)
            return answer.status_code, answer.text
    finally:
        lifespan.cancel()


def test_the_action_servers_error_answer_is_short_and_carries_no_tracker(monkeypatch, caplog):
    from rasa_sdk import __version__ as sdk_version
    from rasa_sdk.endpoint import create_app

    from actions.errors import FAILED, install_error_handler
    from actions.views import ActionStoreView

    async def fails(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
        # As a database error or a KeyError can: the exception quotes the resident.
        raise ValueError(f"could not store {tracker.latest_message['text']!r} for {NUMBER}")

    monkeypatch.setattr(ActionStoreView, "run", fails)
    monkeypatch.setattr(Sanic, "test_mode", True)  # one app named "rasa_sdk" per test
    call = {"next_action": "action_store_view", "sender_id": "c0ffee", "version": sdk_version,
            "tracker": _tracker(WORDS), "domain": {}}  # fmt: skip
    body = json.dumps(call).encode()

    # rasa-sdk's own handler (the defect): the text, the number and the whole tracker.
    status, echoed = asyncio.run(_post(create_app("actions", cors_origins=None), body))
    assert status == 500 and WORDS in echoed and NUMBER in echoed and '"tracker"' in echoed
    caplog.clear()  # (it also logged them: what install_error_handler stops)

    app = install_error_handler(create_app("actions", cors_origins=None))
    status, answer = asyncio.run(_post(app, body))
    assert status == 500
    assert json.loads(answer) == {"error": FAILED, "action_name": "action_store_view"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "Action action_store_view raised ValueError" in (
        errors[0].getMessage()
    )
    status, answer = asyncio.run(_post(app, b'{"next_action": "action_store_view", "tr'))
    assert (status, json.loads(answer)) == (400, {"error": "HTTP 400"})  # not JSON: no echo


# The console ----------------------------------------------------------------------------


def test_the_delivery_page_counts_expired_updates_in_plain_words(database, settings, monkeypatch):
    from argon2 import PasswordHasher

    from bot.console import create_app
    from bot.services import users
    from tests.bot.console.conftest import PASSWORD, sign_in

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "_hasher", lambda: cheap)
    update_id = published(database, numbers(3))
    with database.transaction() as s:
        users.create_user(s, email="analyst@council.example", name="Analyst", role="analyst",
                          password=PASSWORD, actor="test")  # fmt: skip
        first, second, third = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        first.status, second.status, third.status = "expired", "expired", "sent"
    app = create_app(settings, database)
    app.config["TESTING"] = True
    client = app.test_client()
    sign_in(client, "analyst")
    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert (
        '<th scope="row">Expired (not sent within 48 hours)</th><td data-status="expired">2</td>'
        in page
    )
    assert '<td data-status="total">3</td>' in page
    counts = client.get(f"/updates/{update_id}/delivery.json").json["counts"]
    assert (counts["expired"], counts["sent"]) == (2, 1)  # what the page's refresh reads
