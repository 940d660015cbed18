"""`engage topics`: the same topics as the console's page, as a table or as JSON."""

from __future__ import annotations

import json

import pytest

from bot import cli
from bot.nlu import embeddings
from tests.bot.console.test_topics import KeywordEncoder
from tests.residents import add_resident, add_view


@pytest.fixture(autouse=True)
def keyword_encoder(monkeypatch):
    """The keyword encoder in place of the sentence encoder."""
    monkeypatch.setattr(embeddings, "shared_encoder", lambda directory: KeywordEncoder())


def test_a_table_and_json(cli_database, capsys):
    assert cli.main(["topics"]) == 0
    assert capsys.readouterr().out == "No emerging topic in the last 90 days.\n"
    with cli_database.transaction() as s:
        for n in range(3):
            person = add_resident(s, "sms", f"+4477009007{n:02d}", area="LS6")
            add_view(s, person, f"scooter menace number {n}", None)
    assert cli.main(["topics"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["topic", "views", "trend", "districts"]
    assert table[1].split()[:5] == ["T1", "3", "rising", "LS6", "3"]
    assert "menace, number, scooter: scooter menace number" in table[1]
    assert cli.main(["topics", "--json"]) == 0
    (topic,) = json.loads(capsys.readouterr().out)
    assert (topic["key"], topic["size"], topic["districts"]) == ("T1", 3, {"LS6": 3})
