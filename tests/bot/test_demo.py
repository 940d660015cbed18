"""`engage demo` (issue 18, point 12): the synthetic council it seeds, that it writes only to
its own database, its settings pointing every sender at the fake, and its phone lines."""

from __future__ import annotations

import io
import json
import socket
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from bot.db import Database
from bot.demo.council import UPDATE, UPDATE_AGE, seed_council, theme_texts
from bot.demo.run import (
    DEMO_RESIDENT,
    PhonePrinter,
    demo_ports,
    demo_settings,
    phone_line,
    port_taken,
    prepare,
)
from bot.fake_providers import FakeProviders, Recorded
from bot.migrate import upgrade
from bot.models import (
    ChannelIdentity,
    Checkin,
    ConsoleUser,
    OutboxMessage,
    Resident,
    Update,
    UpdateReaction,
    View,
    ViewTheme,
)
from bot.outbound import senders_for
from bot.services.dashboard import views_per_week
from bot.settings import Settings
from bot.themes import theme_keys

NOW = datetime(2026, 11, 29, 20, tzinfo=timezone.utc)  # a Sunday: the chart's weeks are whole
# Never reached: the demo must not even try the real database (a connection would fail).
REAL_DATABASE = "postgresql://nobody@127.0.0.1:9/real"


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    """The theme training examples, read once."""
    return theme_texts()


@pytest.fixture(scope="module")
def council(tmp_path_factory, texts):  # type: ignore[no-untyped-def]
    """The default demo council, seeded once on SQLite: (its summary, its database)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('council') / 'demo.db'}"
    upgrade(url)
    database = Database(url)
    seeded = seed_council(database, officer="demo@council.example", now=NOW, texts=texts)
    yield seeded, database
    database.dispose()


def test_a_few_hundred_residents_on_both_channels(council):
    seeded, database = council
    with database.transaction() as s:
        assert s.scalar(select(func.count(Resident.id))) == seeded.residents == 300
        channels = Counter(s.scalars(select(ChannelIdentity.channel)))
        consented = s.scalar(select(func.count(Resident.id)).where(Resident.consent == "given"))
    assert channels["sms"] >= 100 and channels["telegram"] >= 60, channels
    assert 240 <= consented < 300  # some said no


def test_views_in_every_theme_and_several_districts(council):
    seeded, database = council
    with database.transaction() as s:
        themes = Counter(s.scalars(select(ViewTheme.theme_key)))
        areas = Counter(s.scalars(select(View.area).where(View.area.is_not(None))))
        total = s.scalar(select(func.count(View.id)))
    assert set(themes) == set(theme_keys())
    assert min(themes.values()) >= 15, themes
    assert len(areas) >= 6 and min(areas.values()) >= 20, areas
    assert total == seeded.views >= 450
    assert seeded.views_by_theme == dict(Counter(seeded.views_by_theme))


def test_views_come_in_every_one_of_the_twelve_weeks(council):
    _, database = council
    with database.transaction() as s:
        weekly = views_per_week(s, weeks=12, now=NOW)
        first, last = s.execute(select(func.min(View.created_at), func.max(View.created_at))).one()
        answers = s.scalar(select(func.count(View.id)).where(View.question_id.is_not(None)))
        checkins = s.scalar(select(func.count(Checkin.id)).where(Checkin.status == "sent"))
    per_week = [sum(week) for week in zip(*weekly.by_theme.values(), strict=True)]
    assert len(per_week) == 12 and all(n >= 10 for n in per_week), per_week
    assert NOW - timedelta(weeks=12) <= first < NOW - timedelta(weeks=11)
    assert NOW - timedelta(days=3) < last <= NOW
    assert checkins >= 150 and answers >= 50  # the scheduler ran, residents answered


def test_one_published_update_with_replies(council):
    seeded, database = council
    with database.transaction() as s:
        updates = s.scalars(select(Update)).all()
        statuses = Counter(s.scalars(select(OutboxMessage.status)))
        reactions = s.scalars(select(UpdateReaction)).all()
    assert [u.id for u in updates] == [seeded.update_id]
    (update,) = updates
    assert update.title == UPDATE["title"] and update.created_by == "demo@council.example"
    assert update.published_at == NOW - UPDATE_AGE
    assert statuses["delivered"] + statuses["sent"] == seeded.told >= 15, statuses
    assert statuses["delivered"] and statuses["sent"]  # SMS delivered, Telegram sent
    kinds = Counter(r.kind for r in reactions)
    assert set(kinds) == {"helped", "not_helped", "comment"} and kinds == Counter(seeded.reactions)
    comments = [r for r in reactions if r.kind == "comment"]
    assert all(r.view_id for r in comments)
    assert all(NOW - UPDATE_AGE < r.created_at <= NOW for r in reactions)
    assert "300 residents" in seeded.summary() and "12 weeks" in seeded.summary()


def test_the_same_seed_gives_the_same_council(tmp_path):
    small = {key: [f"{key} words {i}" for i in range(5)] for key in theme_keys()}
    found = []
    for run in range(2):
        url = f"sqlite:///{tmp_path / f'{run}.db'}"
        upgrade(url)
        database = Database(url)
        found.append(seed_council(database, officer="a@b.example", residents=20, weeks=4,
                                  now=NOW, texts=small))  # fmt: skip
        database.dispose()
    assert found[0] == found[1]


def test_too_many_residents_is_refused(tmp_path):
    with pytest.raises(ValueError, match="1 to 800"):
        seed_council(Database(f"sqlite:///{tmp_path / 'x.db'}"), officer="a@b.example",
                     residents=801)  # fmt: skip


# --- its own database, its own settings --------------------------------------------------


def real_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings as on a real server: its database elsewhere, real providers configured."""
    return Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": REAL_DATABASE,
            "TRACKER_DATABASE_URL": REAL_DATABASE,
            "TWILIO_ACCOUNT_SID": "ACreal",
            "TWILIO_AUTH_TOKEN": "real-token",
            "TWILIO_MESSAGING_SERVICE_SID": "MGreal",
            "SAFEGUARDING_NOTIFY_EMAIL": "duty@council.example",
            "SMTP_HOST": "smtp.council.example",
            "REDIS_URL": "redis://10.0.0.5:6379/0",
            **env,
        }
    )


def test_the_demo_writes_only_to_its_own_database(tmp_path, monkeypatch):
    for name in ("DATABASE_URL", "TRACKER_DATABASE_URL", "REDIS_URL", "ENGAGE_VAR_DIR"):
        monkeypatch.delenv(name, raising=False)
    real = real_settings(tmp_path)
    demo = demo_settings(real, "http://127.0.0.1:9")
    folder = tmp_path / "var" / "demo"
    assert demo.database_url == f"sqlite:///{folder / 'engage.db'}" != real.database_url
    assert demo.tracker_database_url == f"sqlite:///{folder / 'tracker.db'}"
    assert demo.var_dir == folder
    prepared = prepare(demo, residents=20)
    again = prepare(demo, residents=20)  # every start wipes and seeds afresh
    database = Database(demo.database_url)
    with database.transaction() as s:
        assert s.scalar(select(func.count(Resident.id))) == 20
        (user,) = s.scalars(select(ConsoleUser)).all()
    database.dispose()
    assert (user.email, user.role) == (prepared.email, "admin") == (again.email, "admin")
    assert len(again.password) >= 12 and again.password != prepared.password
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["demo"]  # nothing else
    with pytest.raises(ValueError, match="not the demo's database"):
        prepare(real)


def test_every_sender_goes_to_the_fake_and_nothing_to_real_services(tmp_path):
    demo = demo_settings(real_settings(tmp_path), "http://127.0.0.1:9")
    assert demo.twilio_api_base_url == demo.telegram_api_base_url == "http://127.0.0.1:9"
    assert demo.twilio_account_sid != "ACreal" and demo.twilio_messaging_service_sid == ""
    assert set(senders_for(demo)) == {"sms", "telegram"}
    assert demo.sms_enabled and demo.telegram_enabled
    assert demo.public_base_url == f"http://127.0.0.1:{demo.gateway_port}"
    assert demo.quiet_hours == "off"
    assert demo.smtp_host == demo.safeguarding_notify_email == ""
    assert getattr(demo, "redis_url", "") == ""


def test_the_demo_ports_are_ours_plus_the_offset(tmp_path):
    real = real_settings(tmp_path)
    demo = demo_settings(real)
    assert (demo.gateway_port, demo.rasa_port, demo.action_port, demo.console_port) == (
        5105, 5106, 5155, 8100,
    )  # fmt: skip
    assert demo.rasa_url == "http://127.0.0.1:5106"
    moved = demo_settings(real_settings(tmp_path, GATEWAY_PORT="6000", DEMO_PORT_OFFSET="7"))
    assert moved.gateway_port == 6007 and moved.console_port == 8007
    clash = {(real.gateway_port, demo.gateway_port), (real.console_port, demo.console_port)}
    assert all(a != b for a, b in clash)


def test_a_taken_port_is_named_and_nothing_starts(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        settings = real_settings(tmp_path, GATEWAY_PORT=str(port), DEMO_PORT_OFFSET="0")
        why = port_taken(settings)
    assert why is not None and f"Port {port} (the demo's GATEWAY_PORT)" in why
    assert "DEMO_PORT_OFFSET" in why
    too_high = real_settings(tmp_path, CONSOLE_PORT="65500", DEMO_PORT_OFFSET="100")
    assert "CONSOLE_PORT + DEMO_PORT_OFFSET is 65600" in (port_taken(too_high) or "")
    assert set(demo_ports(too_high)) >= {"GATEWAY_PORT", "RASA_PORT", "ACTION_PORT"}


# --- what would have gone to a phone ---------------------------------------------------


def test_one_masked_line_per_message_to_a_phone():
    sms = Recorded("twilio", "Messages.create", {"To": "+447700900123", "Body": "Hi\n1 Yes  2 No"})
    line = phone_line(sms, clock=lambda: "10:00:00")
    assert line == "10:00:00 SMS      to **********123: Hi / 1 Yes  2 No"
    rows = [[{"text": "Yes", "callback_data": "/yes"}], [{"text": "No", "callback_data": "/no"}]]
    markup = json.dumps({"inline_keyboard": rows})
    telegram = Recorded(
        "telegram",
        "sendMessage",
        {"chat_id": 5100007919, "text": "Keep it?", "reply_markup": markup},
    )
    assert phone_line(telegram, clock=lambda: "10:00:01") == (
        "10:00:01 Telegram to *******919: Keep it? [Yes] [No]"
    )
    refused = Recorded("twilio", "Messages.create", {"To": "+447700900123", "Body": "x"})
    refused.accepted = False
    assert phone_line(refused) is None
    assert phone_line(Recorded("telegram", "getMe", {})) is None
    assert phone_line(Recorded("telegram", "answerCallbackQuery", {"text": "ok"})) is None


def test_the_fake_tells_the_printer_what_it_took():
    out = io.StringIO()
    fake = FakeProviders().start()
    try:
        fake.listeners.append(PhonePrinter(out))
        fake.twilio_errors["+447700900999"] = 21610
        for number in (DEMO_RESIDENT, "+447700900999"):
            requests.post(
                f"{fake.base_url}/2010-04-01/Accounts/AC1/Messages.json",
                data={"To": number, "From": "+447700900000", "Body": "You told us..."},
                timeout=5,
            )
        requests.post(f"{fake.base_url}/bot1:x/sendMessage",
                      json={"chat_id": 42424242, "text": "Hello"}, timeout=5)  # fmt: skip
    finally:
        fake.stop()
    lines = out.getvalue().splitlines()
    assert [line[9:] for line in lines] == [
        "SMS      to **********001: You told us...",  # the refused one is not printed
        "Telegram to *****242: Hello",
    ]
    assert "+4477" not in out.getvalue() and "42424242" not in out.getvalue()
