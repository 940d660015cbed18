"""The notifier killed (SIGKILL) mid-fan-out, twice, then finished: nobody lost, no SMS twice.

`engage notifier` runs as a real subprocess against the fake providers (in this process)
and a migrated SQLite file. On SMS, rows left "sending" by a killed worker are checked
with Twilio's message list before any resend: exactly once. The Telegram Bot API cannot
be asked, so a Telegram send in flight at a kill may be repeated (bot/notifier.py): the
test allows at most as many repeats as sends were in flight at each kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.fake_providers import FakeProviders
from bot.models import ChannelIdentity, OutboxMessage
from bot.settings import PROJECT_ROOT
from tests.fixtures import fake_providers
from tests.residents import published

SMS_RESIDENTS = 300
TELEGRAM_CHATS = 100
LEASE_S = 3  # longer than a whole claim takes to send; the next worker waits it out
NOTIFIER = [sys.executable, "-m", "bot.cli", "notifier", "--lease", str(LEASE_S)]


# tests/conftest.py's `database`, on SQLite only (a migrated file the notifier processes share).
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    """A fake of its own for each test, slow: a send takes a moment, so some are in flight
    at each kill."""
    yield from fake_providers(delay_s=0.005)


def _env(tmp_path: Path, database: Database, fake: FakeProviders) -> dict[str, str]:
    return dict(
        os.environ,
        RASA_TELEMETRY_ENABLED="false",
        DATABASE_URL=database.url,
        ENGAGE_VAR_DIR=str(tmp_path / "var"),
        QUIET_HOURS="off",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="crash-test-token",
        TWILIO_FROM_NUMBER="+447700900000",
        TWILIO_API_BASE_URL=fake.base_url,
        TELEGRAM_BOT_TOKEN="123456:crash-test",
        TELEGRAM_API_BASE_URL=fake.base_url,
        SMS_PER_SECOND="200",
        TELEGRAM_PER_SECOND="100",
    )


def _sent(fake: FakeProviders, channel: str) -> int:
    if channel == "sms":
        return len(fake.accepted_sms())
    return len(_calls(fake, "telegram"))


def _calls(fake: FakeProviders, channel: str) -> list:
    provider = "twilio" if channel == "sms" else "telegram"
    return [c for c in list(fake.calls) if c.provider == provider and c.method != "getMe"]


def _reached_in_doubt(fake: FakeProviders, database: Database, channel: str) -> int:
    """Rows a dead worker left "sending" although the provider already took their send.

    These are the sends in flight at the kill (sent, not yet recorded): the only ones
    that may be sent again.
    """
    time.sleep(fake.delay_s + 0.2)  # sends the fake still held are answered by now
    reached = {
        str(c.params.get("To") if channel == "sms" else c.params.get("chat_id"))
        for c in _calls(fake, channel)
    }
    with database.transaction() as s:
        sending = s.execute(
            select(ChannelIdentity.address)
            .join(OutboxMessage, OutboxMessage.resident_id == ChannelIdentity.resident_id)
            .where(OutboxMessage.status == "sending")
        ).scalars()
        return sum(1 for address in sending if address in reached)


def _kill_mid_way(env, fake, database, channel: str, at_least: int, total: int) -> int:
    """Start the notifier, SIGKILL it once `at_least` were sent; the sends it left in doubt."""
    process = subprocess.Popen(
        NOTIFIER, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    try:
        while _sent(fake, channel) < at_least:
            assert process.poll() is None, "the notifier exited early"
            assert time.monotonic() < deadline, "the notifier sent too slowly"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _sent(fake, channel) < total, "killed too late: everything was already sent"
    in_doubt = _reached_in_doubt(fake, database, channel)
    time.sleep(LEASE_S)  # the dead worker's claim runs out: the next one takes it over
    return in_doubt


def _finish(env, database: Database) -> None:
    """`engage notifier --once --lease 0` until nothing is queued or sending."""
    for _ in range(10):
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "notifier", "--once", "--lease", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        with database.transaction() as s:
            left = s.scalars(
                select(OutboxMessage.id).where(OutboxMessage.status.in_(("queued", "sending")))
            ).all()
        if not left:
            return
    pytest.fail(f"{len(left)} notifications still queued or sending")


def _rows(database: Database) -> dict[str, tuple[str, str | None]]:
    """address -> (status, provider id) of each outbox row."""
    with database.transaction() as s:
        rows = s.execute(
            select(ChannelIdentity.address, OutboxMessage.status, OutboxMessage.provider_id).join(
                OutboxMessage, OutboxMessage.resident_id == ChannelIdentity.resident_id
            )
        ).all()
    return {address: (status, provider_id) for address, status, provider_id in rows}


def test_sms_survives_two_kills_exactly_once(tmp_path, database, fake):
    numbers = [f"+4477009{i:05d}" for i in range(SMS_RESIDENTS)]
    published(database, numbers)
    assert len(_rows(database)) == SMS_RESIDENTS  # every resident queued
    env = _env(tmp_path, database, fake)
    env.pop("TELEGRAM_BOT_TOKEN")
    first = _kill_mid_way(env, fake, database, "sms", 60, SMS_RESIDENTS)
    second = _kill_mid_way(env, fake, database, "sms", _sent(fake, "sms") + 60, SMS_RESIDENTS)
    _finish(env, database)

    # A request cut off by the kill can reach the fake without its fields (it takes it;
    # Twilio would refuse it): only complete ones count.
    accepted = [c for c in fake.accepted_sms() if c.params.get("To")]
    per_number = Counter(c.params["To"] for c in accepted)
    duplicates = {n: k for n, k in per_number.items() if k > 1}
    lost = [n for n in numbers if per_number[n] == 0]
    print(f"sms: sent but unrecorded at the kills {first}, {second}; duplicates {len(duplicates)}")
    assert duplicates == {} and lost == []
    sid_of = {c.params["To"]: c.sid for c in accepted}
    rows = _rows(database)
    assert sorted(rows) == sorted(numbers)
    assert {status for status, _ in rows.values()} == {"sent"}
    assert {n: pid for n, (_, pid) in rows.items()} == sid_of


def test_telegram_survives_two_kills_at_least_once(tmp_path, database, fake):
    chats = [str(1000 + i) for i in range(TELEGRAM_CHATS)]
    published(database, [], chats)
    assert len(_rows(database)) == TELEGRAM_CHATS  # every resident queued
    env = _env(tmp_path, database, fake)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER"):
        env.pop(name)
    first = _kill_mid_way(env, fake, database, "telegram", 25, TELEGRAM_CHATS)
    second = _kill_mid_way(
        env, fake, database, "telegram", _sent(fake, "telegram") + 25, TELEGRAM_CHATS
    )
    _finish(env, database)

    per_chat = Counter(
        str(c.params.get("chat_id")) for c in fake.calls if c.method == "sendMessage"
    )
    repeats = sum(k - 1 for k in per_chat.values() if k > 1)
    lost = [chat for chat in chats if per_chat[chat] == 0]
    print(
        f"telegram: sent but unrecorded at the kills {first}, {second}; repeated sends {repeats} "
        f"(to {sum(1 for k in per_chat.values() if k > 1)} chats)"
    )
    assert lost == []
    assert repeats <= first + second
    rows = _rows(database)
    assert sorted(rows) == sorted(chats)
    assert {status for status, _ in rows.values()} == {"sent"}
    assert all(provider_id for _, provider_id in rows.values())
