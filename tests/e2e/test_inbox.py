"""Nothing a resident sends is lost: the webhooks answer at once while the action server is
frozen or Rasa is stopped, and every message is processed once, in order, when they are back.
STOP works with both down. Gateway, Rasa and the action server run as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.models import InboxMessage, OutboxMessage, View
from bot.services.identities import resident_at
from bot.services.updates import draft_update, publish
from bot.settings import PROJECT_ROOT
from tests.conftest import POSTGRES_URL
from tests.databases import drop_postgres_database, fresh_postgres_database
from tests.e2e.conftest import channel_env
from tests.e2e.services import Services
from tests.e2e.test_channels import (
    new_chat,
    new_number,
    post_telegram_raw,
    post_twilio_raw,
    telegram_update,
)
from tests.residents import LATER_BUSES

pytestmark = pytest.mark.e2e

ACTION_TIMEOUT_S = 2
STOPPED = "You won't get any more messages from Leeds Listens. Text START if you change your mind."


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def services(request, tmp_path_factory, fake) -> Iterator[Services]:
    """Gateway, Rasa and actions on their own, against the fake providers."""
    workdir = tmp_path_factory.mktemp(f"inbox-{request.param}")
    dropped = None
    if request.param == "sqlite":
        url, tracker = f"sqlite:///{workdir / 'engage.db'}", f"sqlite:///{workdir / 'tracker.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("TEST_DATABASE_URL is not set")
        url, dropped = fresh_postgres_database(POSTGRES_URL)
        tracker = url
    running = Services(
        workdir,
        {
            "DATABASE_URL": url,
            "TRACKER_DATABASE_URL": tracker,
            "ACTION_TIMEOUT_S": str(ACTION_TIMEOUT_S),
            "QUIET_HOURS": "off",
            "ORG_NAME": "Leeds Listens",
            "PRIVACY_URL": "https://leeds.example/p",
            **channel_env(fake.base_url),
        },
    ).start()
    yield running
    running.shutdown()
    if dropped:
        drop_postgres_database(POSTGRES_URL, dropped)


def post_sms(services: Services, number: str, body: str) -> tuple[int, float]:
    """Post a signed SMS webhook; (status, seconds it took), without waiting for Rasa."""
    return post_twilio_raw(services.url, number, body)


def post_telegram(services: Services, chat: int, text: str) -> tuple[int, float]:
    """Post a Telegram message update; (status, seconds it took)."""
    update = telegram_update("telegram_message.json", chat, text=text)
    return post_telegram_raw(services.url, update)


def consented_sms(services: Services) -> str:
    number = new_number()
    for body in ("hi", "yes"):
        assert post_sms(services, number, body)[0] == 200
        assert services.settle()
    return number


def consented_telegram(services: Services) -> int:
    chat = new_chat()
    for name in ("telegram_start.json", "telegram_callback_query.json"):
        assert post_telegram_raw(services.url, telegram_update(name, chat))[0] == 200
        assert services.settle()
    return chat


def views(services: Services, channel: str, address: str) -> list[str]:
    with services.database.transaction() as s:
        resident = resident_at(s, channel, address)
        return list(
            s.scalars(select(View.text).where(View.resident_id == resident.id).order_by(View.id))
        )


def test_a_frozen_action_server_loses_nothing_and_repeats_nothing(services, fake):
    number, chat = consented_sms(services), consented_telegram(services)
    sms_before, telegram_before = len(fake.sms_to(number)), len(fake.telegram_to(chat))
    services.freeze("actions")
    try:
        answers = [
            post_sms(services, number, "the buses stop at 6 so i cant get home"),
            post_telegram(services, chat, "my gp surgery never answers the phone"),
            post_sms(services, number, "and the park is full of litter"),
        ]
        assert [status for status, _ in answers] == [200, 200, 200]
        assert max(seconds for _, seconds in answers) < 5
        time.sleep(ACTION_TIMEOUT_S + 2)  # the first attempt times out and is put back
        with services.database.transaction() as s:
            open_rows = s.scalars(
                select(InboxMessage.attempts).where(InboxMessage.status == "pending")
            ).all()
        assert len(open_rows) == 3 and max(open_rows) >= 1
    finally:
        services.thaw("actions")
    assert services.settle()
    assert views(services, "sms", number) == [
        "the buses stop at 6 so i cant get home",
        "and the park is full of litter",
    ]
    assert views(services, "telegram", str(chat)) == ["my gp surgery never answers the phone"]
    assert len(fake.sms_to(number)) == sms_before + 2  # one reply each, none twice
    assert len(fake.telegram_to(chat)) == telegram_before + 1


def test_a_message_sent_while_rasa_is_stopped_is_processed_once_it_is_back(services, fake):
    number = consented_sms(services)
    before = len(fake.sms_to(number))
    services.stop("rasa")
    try:
        status, seconds = post_sms(services, number, "the bins were not collected again")
        assert status == 200 and seconds < 5
        with services.database.transaction() as s:
            assert s.scalars(
                select(InboxMessage.status).order_by(InboxMessage.id.desc())
            ).first() == ("pending")
    finally:
        services.start_one("rasa")
    assert services.settle()
    assert views(services, "sms", number) == ["the bins were not collected again"]
    assert len(fake.sms_to(number)) == before + 1
    assert fake.sms_to(number)[-1].startswith("Thanks, noted under Rubbish & recycling.")


def test_stop_works_with_rasa_and_the_action_server_both_down(services, fake):
    number = consented_sms(services)
    assert post_sms(services, number, "the buses stop at 6 so i cant get home")[0] == 200
    assert services.settle()
    with services.database.transaction() as s:
        update = draft_update(s, LATER_BUSES, created_by="test")
        publish(s, update.id)
        update_id = update.id
    before = len(fake.sms_to(number))
    services.stop("rasa")
    services.freeze("actions")
    try:
        assert post_sms(services, number, "STOP")[0] == 200
        with services.database.transaction() as s:
            assert resident_at(s, "sms", number).opted_out_at is not None  # at once
        notifier = subprocess.run(
            [sys.executable, "-m", "bot.cli", "notifier", "--once"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **services.env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert notifier.returncode == 0, notifier.stdout + notifier.stderr
        assert len(fake.sms_to(number)) == before  # the update was not sent to them
        with services.database.transaction() as s:
            resident = resident_at(s, "sms", number)
            status = s.scalars(
                select(OutboxMessage.status).where(
                    OutboxMessage.update_id == update_id, OutboxMessage.resident_id == resident.id
                )
            ).one()
        assert status == "opted_out"
    finally:
        services.thaw("actions")
        services.start_one("rasa")
    assert services.settle()
    assert fake.sms_to(number)[before:] == [STOPPED]  # confirmed once, when Rasa was back
