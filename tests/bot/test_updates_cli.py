"""`engage updates preview|publish`: the message, the count, then one outbox row each."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import cli
from bot.models import AuditEvent, OutboxMessage, Update
from bot.services.views import store_view
from tests.residents import add_resident

ARGS = [
    "--title", "Later buses", "--you-said", "buses stop too early",
    "--we-did", "From 3 March the 42 runs until 11pm.", "--theme", "roads_transport",
]  # fmt: skip


@pytest.fixture(autouse=True)
def residents(cli_database):
    """A resident on SMS and one on Telegram who spoke of roads, in the CLI's database."""
    with cli_database.transaction() as s:
        for n, channel in enumerate(["sms", "telegram"]):
            person = add_resident(s, channel, f"+44770090000{n}")
            store_view(
                s, person, text="t", theme_key="roads_transport", confidence=1, channel=channel
            )


def test_preview_shows_the_message_and_counts_and_keeps_nothing(cli_database, capsys):
    assert cli.main(["updates", "preview", *ARGS]) == 0
    out = capsys.readouterr().out
    assert "you and others told us buses stop too early. From 3 March the 42 runs until 11pm." in (
        out
    )
    assert "1 SMS, GSM-7" in out and "Recipients: 2 (1 by sms, 1 by telegram)" in out
    with cli_database.transaction() as s:
        assert s.scalars(select(Update)).all() == []
        assert s.scalars(select(AuditEvent)).all() == []  # nor an audit event for the draft


def test_the_preview_reads_curly_quotes_as_they_will_be_sent(cli_database, capsys):
    curly = [*ARGS[:3], "buses stop too \u201cearly\u201d", *ARGS[4:]]
    assert cli.main(["updates", "preview", *curly]) == 0
    out = capsys.readouterr().out
    assert 'told us buses stop too "early".' in out and "1 SMS, GSM-7" in out


def test_publish_asks_first_unless_yes(cli_database, capsys, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda _: "n")
    assert cli.main(["updates", "publish", *ARGS]) == 1
    with cli_database.transaction() as s:
        assert s.scalars(select(OutboxMessage)).all() == []
    assert cli.main(["updates", "publish", *ARGS, "--yes"]) == 0
    assert "2 messages queued" in capsys.readouterr().out
    with cli_database.transaction() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 2
        events = s.scalars(select(AuditEvent)).all()
        assert [(e.action, e.actor[:4]) for e in events] == [
            ("update.draft", "cli:"),  # the draft is audited, as in the console
            ("update.publish", "cli:"),
        ]
        [update] = s.scalars(select(Update)).all()
        assert events[0].target == events[1].target == f"update:{update.id}"


def test_a_bad_update_says_why(cli_database, capsys):
    assert cli.main(["updates", "publish", *ARGS, "--theme", "aliens", "--yes"]) == 2
    assert "unknown themes: aliens" in capsys.readouterr().err


def test_nobody_to_tell_publishes_nothing(cli_database, capsys):
    assert cli.main(["updates", "publish", *ARGS, "--area", "LS99", "--yes"]) == 1
    out = capsys.readouterr().out
    assert "Recipients: 0\n" in out and "Nobody to tell: nothing published.\n" in out
    with cli_database.transaction() as s:
        assert s.scalars(select(Update)).all() == []
        assert s.scalars(select(AuditEvent)).all() == []
