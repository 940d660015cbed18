"""`engage checkins` (the same service functions as the console) and what `engage run --help`
says it starts."""

from __future__ import annotations

import pytest

from bot import cli


def test_an_empty_list_says_so(cli_database, capsys):
    assert cli.main(["checkins", "list"]) == 0
    assert capsys.readouterr().out == "No check-in questions yet.\n"
    assert cli.main(["checkins", "add", "How are the buses?"]) == 0
    capsys.readouterr()
    assert cli.main(["checkins", "list"]) == 0
    listing = capsys.readouterr().out
    assert "How are the buses?" in listing and "No check-in questions" not in listing


def test_run_help_names_the_six_processes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "six processes" in text
    for process in [
        "webhook gateway",
        "Rasa server",
        "action server",
        "check-in scheduler",
        "notifier",
        "officer console",
    ]:
        assert process in text


def test_add_list_and_end_call_the_consoles_service_functions(cli_database, capsys):
    from sqlalchemy import select

    from bot.models import AuditEvent, CheckinQuestion

    assert cli.main(["checkins", "add", "Rate the buses 1 to 5", "--kind", "scale",
                     "--area", "ls6"]) == 0  # fmt: skip
    added = capsys.readouterr().out
    assert "Hi from Leeds Listens. Rate the buses 1 to 5" in added
    assert "It would be put to 0 residents as things are now." in added
    with cli_database.transaction() as s:
        question_id = s.scalars(select(CheckinQuestion.id)).one()
    assert cli.main(["checkins", "list"]) == 0
    assert "running" in capsys.readouterr().out
    assert cli.main(["checkins", "end", str(question_id)]) == 0
    assert capsys.readouterr().out == f"Question {question_id} ended.\n"
    assert cli.main(["checkins", "end", str(question_id)]) == 2
    assert "has already ended" in capsys.readouterr().err
    assert cli.main(["checkins", "end", "999"]) == 2
    assert capsys.readouterr().err == "No question 999.\n"
    assert cli.main(["checkins", "list"]) == 0
    assert "ended" in capsys.readouterr().out
    with cli_database.transaction() as s:
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        actors = set(s.scalars(select(AuditEvent.actor)).all())
    assert actions == ["checkin.add", "checkin.end"]
    assert len(actors) == 1 and actors.pop().startswith("cli:")
