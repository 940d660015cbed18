"""`engage checkins list` with no questions, and what `engage run --help` says it starts."""

from __future__ import annotations

import pytest

from bot import cli, db, settings


@pytest.fixture
def cli_database(database, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database.url)
    settings.get_settings.cache_clear()
    monkeypatch.setattr(db, "_default", database)
    yield database
    settings.get_settings.cache_clear()


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
