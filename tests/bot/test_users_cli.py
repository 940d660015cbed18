"""`engage users create|list|disable`, and audit events from the CLI."""

from __future__ import annotations

import getpass
import io

from sqlalchemy import select

from bot import cli
from bot.models import AuditEvent, ConsoleUser


def test_create_list_and_disable(cli_database, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    args = ["users", "create", "--email", "Ann@Council.example", "--name", "Ann", "--role", "admin"]
    assert cli.main([*args, "--password-stdin"]) == 0
    assert "Created admin account ann@council.example." in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main([*args[:3], "bob@council.example", *args[4:]]) == 2  # not a tty: stdin
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    create_bob = ["users", "create", "--email", "bob@council.example", "--name", "Bob"]
    assert cli.main([*create_bob, "--role", "officer", "--password-stdin"]) == 0
    assert cli.main(["users", "disable", "--email", "bob@council.example"]) == 0
    assert cli.main(["users", "disable", "--email", "nobody@council.example"]) == 2
    capsys.readouterr()
    assert cli.main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ann@council.example" in listing and "admin" in listing and "disabled" in listing
    with cli_database.transaction() as s:
        assert s.scalars(select(ConsoleUser.email).order_by(ConsoleUser.id)).all() == [
            "ann@council.example",
            "bob@council.example",
        ]
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    actor = f"cli:{getpass.getuser()}"
    assert [(e.actor, e.action) for e in events] == [
        (actor, "user.create"),
        (actor, "user.create"),
        (actor, "user.disable"),
    ]


def test_a_typed_password_must_match(cli_database, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    answers = iter(["a long enough password", "a different password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    args = ["users", "create", "--email", "c@council.example", "--name", "C", "--role", "analyst"]
    assert cli.main(args) == 2
    assert "differ" in capsys.readouterr().err


def test_ctrl_d_at_the_password_prompt_cancels_without_a_traceback(
    cli_database, monkeypatch, capsys
):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)

    def end_of_input(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", end_of_input)
    args = ["users", "create", "--email", "d@council.example", "--name", "D", "--role", "analyst"]
    assert cli.main(args) == 1
    assert capsys.readouterr().err == "\nCancelled: nothing was typed.\n"
    assert cli.main(["users", "list"]) == 0
    assert "d@council.example" not in capsys.readouterr().out
