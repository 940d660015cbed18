"""Retention: each rule removes exactly what is past its period and keeps the rest; counts
per theme and month do not change; a run is audited, idempotent and safe to interrupt."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from bot import cli, db
from bot import settings as settings_module
from bot.db import Database
from bot.exports.counts import tally
from bot.exports.filters import ExportFilter
from bot.migrate import upgrade
from bot.models import (
    AuditEvent,
    InboundMessage,
    InboxMessage,
    LoginFailure,
    OutboundMessage,
    OutboxMessage,
    Resident,
    Update,
    UpdateReaction,
    View,
    ViewTheme,
)
from bot.retention import month_start, months_before, run_retention
from bot.settings import PROJECT_ROOT
from bot.themes import theme_keys
from bot.tracker_store import EVENTS

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
ZEROS = dict.fromkeys(
    (
        "view_texts",
        "conversation_events",
        "unconsented_events",
        "unconsented_inbox",
        "inbox",
        "inbound_messages",
        "outbound_messages",
        "outbox",
        "outbox_reacted",
        "login_failures",
    ),
    0,
)


class Tracker:
    """Rasa's own SQLTrackerStore, and our Database on the same tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            self.store = SQLTrackerStore(dialect="sqlite", db=parsed.database)
        else:
            self.store = SQLTrackerStore(
                dialect="postgresql",
                host=parsed.host,
                port=parsed.port,
                db=parsed.database,
                username=parsed.username,
                password=parsed.password,
            )
        self.database = Database(url)

    def say(self, sender: str, *moments: datetime) -> None:
        """One resident turn and the bot's listen at each moment, saved as Rasa saves them."""
        events = []
        for at in moments:
            events += [
                UserUttered("hello", intent={"name": "greet"}, timestamp=at.timestamp()),
                ActionExecuted("action_listen", timestamp=at.timestamp()),
            ]
        asyncio.run(self.store.save(DialogueStateTracker.from_events(sender, events)))

    def moments(self, sender: str) -> list[datetime]:
        """When the stored events of one conversation happened, one per turn."""
        with self.database.engine.connect() as c:
            stamps = c.execute(
                select(EVENTS.c.timestamp)
                .where(EVENTS.c.sender_id == sender, EVENTS.c.type_name == "user")
                .order_by(EVENTS.c.id)
            ).scalars()
            return [datetime.fromtimestamp(t, timezone.utc) for t in stamps]

    def count(self) -> int:
        with self.database.engine.connect() as c:
            return c.scalar(select(func.count()).select_from(EVENTS))

    def close(self) -> None:
        self.store.engine.dispose()
        self.database.dispose()


@pytest.fixture
def tracker(database, tmp_path) -> Iterator[Tracker]:
    """A tracker store made by Rasa: its own SQLite file, or the app's PostgreSQL database."""
    same = not database.url.startswith("sqlite")
    store = Tracker(database.url if same else f"sqlite:///{tmp_path / 'tracker.db'}")
    yield store
    if same:  # the shared test database must hold only the app's tables afterwards
        with store.database.engine.begin() as c:
            c.execute(text("DROP TABLE IF EXISTS events"))
    store.close()


def _resident(s, consent: str | None, created_at: datetime) -> Resident:
    resident = Resident(consent=consent, created_at=created_at, contact_ok=consent == "given")
    s.add(resident)
    s.flush()
    return resident


def _view(s, resident: Resident, at: datetime, themes=("roads_transport",), **kw) -> View:
    view = View(
        resident_id=resident.id,
        text=f"said on {at:%Y-%m-%d}",
        theme_key=themes[0] if themes else None,
        channel="sms",
        area="LS6",
        conversation_id=resident.conversation_id,
        created_at=at,
        **kw,
    )
    s.add(view)
    s.flush()
    for rank, key in enumerate(themes):
        s.add(ViewTheme(view_id=view.id, theme_key=key, rank=rank))
    return view


def _inbox(s, resident: Resident, status: str, age: timedelta) -> int:
    row = InboxMessage(
        resident_id=resident.id,
        channel="sms",
        text="my words",
        status=status,
        received_at=NOW - age,
    )
    s.add(row)
    s.flush()
    return row.id


def _outbox(
    s,
    resident: Resident,
    status: str,
    created: timedelta,
    sent: timedelta | None,
    provider_id: str | None = None,
) -> int:
    update = Update(
        title="t",
        you_said="y",
        we_did="w",
        created_by="t",
        published_at=NOW - created,
        created_at=NOW - created,
    )
    s.add(update)
    s.flush()
    row = OutboxMessage(
        update_id=update.id,
        resident_id=resident.id,
        channel="sms",
        status=status,
        created_at=NOW - created,
        sent_at=None if sent is None else NOW - sent,
        provider_id=provider_id,
    )
    s.add(row)
    s.flush()
    return row.id


def seed(database, tracker: Tracker) -> dict[str, Any]:
    """A bit of everything, either side of each rule's period; returns the ids checked."""
    ids: dict[str, Any] = {}
    with database.transaction() as s:
        given = _resident(s, "given", NOW - 800 * DAY)
        never = _resident(s, None, NOW - 8 * DAY)
        refused = _resident(s, "refused", NOW - 8 * DAY)
        newcomer = _resident(s, None, NOW - 6 * DAY)
        consented = _resident(s, "given", NOW - 8 * DAY)
        conversations = {
            name: r.conversation_id
            for name, r in (
                ("given", given),
                ("never", never),
                ("refused", refused),
                ("newcomer", newcomer),
                ("consented", consented),
            )
        }
        # Views either side of 24 months (the cutoff is 2024-06-15 12:00).
        ids["view_25_months"] = _view(
            s, given, datetime(2024, 5, 10, 15, 30, tzinfo=timezone.utc)
        ).id
        ids["view_23_months"] = _view(s, given, datetime(2024, 7, 20, 9, 0, tzinfo=timezone.utc)).id
        # Inbox: processed rows of residents without consent go after 7 days, others after 90.
        for name, owner, status, age in (
            ("never_done_8d", never, "done", 8 * DAY),
            ("never_failed_8d", never, "failed", 8 * DAY),
            ("never_pending_8d", never, "pending", 8 * DAY),
            ("refused_done_8d", refused, "done", 8 * DAY),
            ("newcomer_done_6d", newcomer, "done", 6 * DAY),
            ("consented_done_8d", consented, "done", 8 * DAY),
            ("given_done_91d", given, "done", 91 * DAY),
            ("given_failed_91d", given, "failed", 91 * DAY),
            ("given_replying_91d", given, "replying", 91 * DAY),
            ("given_done_89d", given, "done", 89 * DAY),
        ):
            ids[name] = _inbox(s, owner, status, age)
        # A recent view from an old inbox message: the view stays, its link goes.
        ids["view_from_old_inbox"] = _view(
            s, given, NOW - 100 * DAY, inbox_id=ids["given_done_91d"]
        ).id
        # Update messages: only finished ones 90 days old without reactions go.
        for name, status, created, sent, provider in (
            ("sent_91d", "sent", 100 * DAY, 99 * DAY, "SM1"),
            ("delivered_91d_reacted", "delivered", 100 * DAY, 99 * DAY, "SM2"),
            ("opted_out_91d", "opted_out", 100 * DAY, None, None),
            ("queued_91d", "queued", 100 * DAY, None, None),
            ("sending_91d", "sending", 100 * DAY, None, None),
            ("sent_89d", "sent", 89 * DAY, 89 * DAY, "SM3"),
            ("sent_lately_of_old", "sent", 100 * DAY, 80 * DAY, "SM4"),
        ):
            ids[name] = _outbox(s, given, status, created, sent, provider)
        reacted = s.get(OutboxMessage, ids["delivered_91d_reacted"])
        reaction = UpdateReaction(
            update_id=reacted.update_id,
            resident_id=given.id,
            outbox_id=reacted.id,
            kind="helped",
            channel="sms",
            inbox_id=ids["given_failed_91d"],
            created_at=NOW - 95 * DAY,
        )
        s.add(reaction)
        s.flush()
        ids["reaction"] = reaction.id
        for name, age, outbox_id in (
            ("outbound_91d", 91, None),
            ("outbound_89d", 89, ids["sent_91d"]),
        ):
            row = OutboundMessage(
                resident_id=given.id,
                channel="sms",
                purpose="update",
                outbox_id=outbox_id,
                provider_id=name,
                status="delivered",
                created_at=NOW - age * DAY,
                updated_at=NOW - age * DAY,
            )
            s.add(row)
            s.flush()
            ids[name] = row.id
        s.add_all(
            [
                InboundMessage(channel="sms", provider_id="SMold", received_at=NOW - 91 * DAY),
                InboundMessage(channel="sms", provider_id="SMnew", received_at=NOW - 89 * DAY),
                LoginFailure(email="a@b.example", remote_addr="1.2.3.4", created_at=NOW - 91 * DAY),
                LoginFailure(email="a@b.example", remote_addr="1.2.3.4", created_at=NOW - 89 * DAY),
            ]
        )
    # Rasa's events: 12 months for everyone, 7 days for residents without consent.
    tracker.say(conversations["given"], NOW - 396 * DAY, NOW - 330 * DAY)
    tracker.say(conversations["never"], NOW - 8 * DAY, NOW - timedelta(hours=1))
    tracker.say(conversations["refused"], NOW - 8 * DAY)
    tracker.say(conversations["newcomer"], NOW - 6 * DAY)
    tracker.say(conversations["consented"], NOW - 8 * DAY)
    return ids | {f"conv_{k}": v for k, v in conversations.items()}


def test_each_rule_removes_exactly_what_is_past_its_period(database, tracker, settings):
    ids = seed(database, tracker)
    report = run_retention(database, tracker.database, settings, NOW, "test")
    assert report.counts() == ZEROS | {
        "view_texts": 1,
        "conversation_events": 2,
        "unconsented_events": 4,
        "unconsented_inbox": 3,
        "inbox": 2,
        "inbound_messages": 1,
        "outbound_messages": 1,
        "outbox": 2,
        "outbox_reacted": 1,
        "login_failures": 1,
    }
    with database.transaction() as s:
        old, kept = s.get(View, ids["view_25_months"]), s.get(View, ids["view_23_months"])
        assert old.text == "" and old.created_at == datetime(2024, 5, 1, tzinfo=timezone.utc)
        assert (old.theme_key, old.area, old.channel) == ("roads_transport", "LS6", "sms")
        assert s.scalars(select(ViewTheme.theme_key).where(ViewTheme.view_id == old.id)).all() == [
            "roads_transport"
        ]
        assert kept.text == "said on 2024-07-20"
        assert kept.created_at == datetime(2024, 7, 20, 9, 0, tzinfo=timezone.utc)
        linked = s.get(View, ids["view_from_old_inbox"])
        assert linked.inbox_id is None and linked.text

        inbox = set(s.scalars(select(InboxMessage.id)))
        assert inbox == {
            ids[n]
            for n in (
                "never_pending_8d",
                "newcomer_done_6d",
                "consented_done_8d",
                "given_replying_91d",
                "given_done_89d",
            )
        }
        outbox = {row.id: row for row in s.scalars(select(OutboxMessage))}
        assert set(outbox) == {
            ids[n]
            for n in (
                "delivered_91d_reacted",
                "queued_91d",
                "sending_91d",
                "sent_89d",
                "sent_lately_of_old",
            )
        }
        assert outbox[ids["delivered_91d_reacted"]].provider_id is None
        assert outbox[ids["delivered_91d_reacted"]].status == "delivered"
        assert outbox[ids["sent_89d"]].provider_id == "SM3"
        reaction = s.get(UpdateReaction, ids["reaction"])
        assert reaction is not None and reaction.kind == "helped" and reaction.inbox_id is None
        outbound = s.scalars(select(OutboundMessage)).all()
        assert [(o.id, o.outbox_id) for o in outbound] == [(ids["outbound_89d"], None)]
        assert s.scalars(select(InboundMessage.provider_id)).all() == ["SMnew"]
        assert len(s.scalars(select(LoginFailure)).all()) == 1
    assert tracker.moments(ids["conv_given"]) == [NOW - 330 * DAY]
    assert tracker.moments(ids["conv_never"]) == [NOW - timedelta(hours=1)]
    assert tracker.moments(ids["conv_refused"]) == []
    assert tracker.moments(ids["conv_newcomer"]) == [NOW - 6 * DAY]
    assert tracker.moments(ids["conv_consented"]) == [NOW - 8 * DAY]


def test_a_second_run_changes_nothing_and_both_are_audited(database, tracker, settings):
    seed(database, tracker)
    first = run_retention(database, tracker.database, settings, NOW, "cli:someone")
    events = tracker.count()
    second = run_retention(database, tracker.database, settings, NOW + timedelta(hours=1), "x")
    assert first.total > 0 and second.counts() == ZEROS and tracker.count() == events
    with database.transaction() as s:
        audited = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor, e.action) for e in audited] == [
        ("cli:someone", "retention.run"),
        ("x", "retention.run"),
    ]
    assert [json.loads(e.detail) for e in audited] == [first.counts(), ZEROS]
    assert all("said on" not in e.detail and "LS6" not in e.detail for e in audited)


def test_counts_per_theme_and_month_are_the_same_after_a_run(database, tracker, settings):
    keys = theme_keys()
    with database.transaction() as s:
        people = [_resident(s, "given", NOW - 1000 * DAY) for _ in range(3)]
        made = [NOW - timedelta(days=8 * n, hours=n % 24, minutes=n) for n in range(150)]
        for n, at in enumerate(made):  # every 8 days over 40 months, some with 2 themes or none
            themes = () if n % 7 == 0 else (keys[n % 4], keys[4]) if n % 5 == 0 else (keys[n % 4],)
            _view(s, people[n % 3], at, themes=themes)

    def counts():
        with database.transaction() as s:
            return [
                tally(s, ExportFilter(), by)
                for by in (("theme", "month"), ("theme", "month", "area", "channel"))
            ]

    before = counts()
    report = run_retention(database, tracker.database, settings, NOW, "t")
    assert report.counts()["view_texts"] == sum(at < months_before(NOW, 24) for at in made) > 50
    assert counts() == before


def test_without_rasas_table_the_tracker_rules_count_nothing(database, tmp_path, settings):
    empty = Database(f"sqlite:///{tmp_path / 'no-tracker-yet.db'}")
    with database.transaction() as s:
        _resident(s, None, NOW - 30 * DAY)
    report = run_retention(database, empty, settings, NOW, "t")
    assert report.counts() == ZEROS
    empty.dispose()


def test_the_cli_prints_one_line_per_rule(
    database, tracker, settings, monkeypatch, capsys, tmp_path
):
    seed(database, tracker)
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("TRACKER_DATABASE_URL", tracker.url)
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path / "var"))
    settings_module.get_settings.cache_clear()
    monkeypatch.setattr(db, "_default", database)
    try:
        assert cli.main(["retention", "run"]) == 0
    finally:
        settings_module.get_settings.cache_clear()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(ZEROS)
    assert all(
        re.fullmatch(r"[a-z ,-]+ \(older than \d+ (months|days)\): \d+", line) for line in lines
    )
    assert lines[0].startswith("view texts removed (older than 24 months): ")  # today's cutoffs
    assert lines[-1].startswith("failed sign-ins deleted (older than 90 days): ")
    with database.transaction() as s:
        event = s.scalars(select(AuditEvent)).one()
    assert (event.actor, event.action) == (f"cli:{getpass.getuser()}", "retention.run")


def test_months_are_calendar_months():
    assert months_before(NOW, 24) == datetime(2024, 6, 15, 12, 0, tzinfo=timezone.utc)
    march_31 = datetime(2026, 3, 31, 8, 0, tzinfo=timezone.utc)
    assert months_before(march_31, 1) == datetime(2026, 2, 28, 8, 0, tzinfo=timezone.utc)
    assert months_before(march_31, 15) == datetime(2024, 12, 31, 8, 0, tzinfo=timezone.utc)
    assert month_start(march_31) == datetime(2026, 3, 1, tzinfo=timezone.utc)


CHILD = """
import sys, time
from datetime import datetime
from sqlalchemy import event
from bot.db import Database
from bot.retention import run_retention
from bot.settings import Settings

database = Database(sys.argv[1])
event.listen(database.engine, "commit", lambda connection: time.sleep(0.01))
settings = Settings.from_env({"ENGAGE_VAR_DIR": sys.argv[3]})
now = datetime.fromisoformat(sys.argv[4])
run_retention(database, Database(sys.argv[2]), settings, now, "child", batch_size=50)
"""


def test_a_run_killed_half_way_is_completed_by_the_next(tmp_path, settings):
    """kill -9 in the middle: every batch is done or untouched, and the next run finishes."""
    url = f"sqlite:///{tmp_path / 'engage.db'}"
    upgrade(url)
    database = Database(url)
    keys = theme_keys()
    with database.transaction() as s:
        resident = _resident(s, "given", NOW - 2000 * DAY)
        made = [NOW - timedelta(days=800 + n % 700, minutes=n) for n in range(20_000)]
        s.execute(
            insert(View.__table__),
            [
                {
                    "resident_id": resident.id,
                    "text": f"view {n}",
                    "theme_key": keys[n % 10],
                    "theme_source": "model",
                    "channel": "sms",
                    "area": "LS6",
                    "conversation_id": resident.conversation_id,
                    "created_at": at,
                }
                for n, at in enumerate(made)
            ],
        )
        view_ids = s.scalars(select(View.id).order_by(View.id)).all()
        s.execute(
            insert(ViewTheme.__table__),
            [
                {"view_id": view_id, "theme_key": keys[n % 10], "rank": 0}
                for n, view_id in enumerate(view_ids)
            ],
        )
        before = tally(s, ExportFilter(), ("theme", "month"))
    made_at = dict(zip(view_ids, made, strict=True))

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            url,
            f"sqlite:///{tmp_path / 'tracker.db'}",
            str(tmp_path / "var"),
            NOW.isoformat(),
        ],
        cwd=PROJECT_ROOT,
    )
    watcher = create_engine(url)
    emptied_query = text("SELECT count(*) FROM views WHERE text = ''")
    deadline = time.monotonic() + 30
    try:
        while True:
            with watcher.connect() as c:
                emptied = c.scalar(emptied_query)
            if emptied or child.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
        watcher.dispose()
    assert child.returncode == -signal.SIGKILL

    def state() -> dict[int, tuple[str, datetime]]:
        with database.transaction() as s:
            return {
                i: (t, at) for i, t, at in s.execute(select(View.id, View.text, View.created_at))
            }

    half = state()
    done = [i for i, (t, _) in half.items() if t == ""]
    assert 0 < len(done) < 20_000  # stopped half-way
    for view_id, (view_text, at) in half.items():  # each view untouched or fully done
        if view_text:
            assert at == made_at[view_id]
        else:
            assert at == month_start(made_at[view_id])

    report = run_retention(
        database, Database(f"sqlite:///{tmp_path / 'tracker.db'}"), settings, NOW, "t"
    )
    assert report.counts()["view_texts"] == 20_000 - len(done)
    after = state()
    assert all(t == "" and at == month_start(made_at[i]) for i, (t, at) in after.items())
    with database.transaction() as s:
        assert tally(s, ExportFilter(), ("theme", "month")) == before
    again = run_retention(
        database, Database(f"sqlite:///{tmp_path / 'tracker.db'}"), settings, NOW, "t"
    )
    assert again.counts() == ZEROS
    database.dispose()
