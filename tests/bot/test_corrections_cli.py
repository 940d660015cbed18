"""`engage themes corrections`: views residents and officers re-themed, as NLU training
examples that Rasa reads back (`rasa data validate`) under the right themes."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from bot import cli
from bot.cli.themes import before_after
from bot.models import AuditEvent
from bot.services.curation import hide, retheme
from bot.services.views import set_view_theme
from bot.settings import PROJECT_ROOT
from tests.residents import NOW, add_resident, add_view


@pytest.fixture
def corrected(cli_database):
    with cli_database.transaction() as s:
        person = add_resident(s, "sms", "+447700900950", area="LS6")
        by_resident = add_view(s, person, "the 42 never turns up", "community_safety")
        set_view_theme(s, person, by_resident.id, "roads_transport")
        by_officer = add_view(s, person, "ring me on 07700 900950 about the [bins](x)", "housing")
        by_officer_2 = add_view(s, person, "gulls ripping open the bags", "housing")
        retheme(s, [by_officer.id, by_officer_2.id], ["waste_recycling"], actor="o")
        add_view(s, person, "damp flat", "housing")  # the classifier's: not a correction
        to_nothing = add_view(s, person, "hello", "housing")
        retheme(s, [to_nothing.id], [], actor="o")  # no theme: no example
        spam = add_view(s, person, "buy cheap watches", "housing")
        retheme(s, [spam.id], ["roads_transport"], actor="o")
        hide(s, [spam.id], "spam", actor="o")
        old = add_view(s, person, "old correction", "housing")
        retheme(s, [old.id], ["housing"], actor="o")
        old.theme_set_at = NOW - timedelta(days=30)
    return cli_database


def test_corrections_are_written_by_theme_redacted(corrected, tmp_path, capsys):
    out = tmp_path / "corrections.yml"
    since = (NOW - timedelta(days=7)).date().isoformat()
    assert cli.main(["themes", "corrections", "-o", str(out), "--since", since]) == 0
    assert capsys.readouterr().out == f"3 examples for 2 themes written to {out}.\n"
    written = yaml.safe_load(out.read_text())
    assert [(b["metadata"]["theme"], b["examples"]) for b in written["nlu"]] == [
        ("roads_transport", "- the 42 never turns up\n"),
        ("waste_recycling",
         "- ring me on [phone] about the [bins] (x)\n- gulls ripping open the bags\n"),
    ]  # fmt: skip
    assert cli.main(["themes", "corrections", "-o", str(out)]) == 0
    assert "4 examples for 3 themes" in capsys.readouterr().out
    with corrected.transaction() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.corrections"))
        assert len(events.all()) == 2
    assert cli.main(["themes", "corrections", "-o", str(out), "--since", "soon"]) == 2


def test_an_empty_file_is_still_valid_yaml(cli_database, tmp_path, capsys):
    out = tmp_path / "none.yml"
    assert cli.main(["themes", "corrections", "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["nlu"] == []


def test_the_file_round_trips_through_rasa_data_validate(corrected, tmp_path):
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    out = tmp_path / "corrections.yml"
    assert cli.main(["themes", "corrections", "-o", str(out)]) == 0
    examples = RasaYAMLReader().read(out).training_examples
    read = [
        (e.get("intent"), e.get("metadata")["intent"]["theme"], e.get("text")) for e in examples
    ]
    assert read == [
        ("share_view", "roads_transport", "the 42 never turns up"),
        ("share_view", "waste_recycling", "ring me on [phone] about the [bins] (x)"),
        ("share_view", "waste_recycling", "gulls ripping open the bags"),
        ("share_view", "housing", "old correction"),
    ]
    assert all(not e.get("entities") for e in examples)  # "[bins] (x)" is no entity
    done = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--data", "data/nlu", "data/rules",
         "data/stories", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_eval_shows_before_and_after_side_by_side(capsys):
    from types import SimpleNamespace

    import numpy as np

    before = SimpleNamespace(f1=np.array([0.5, 0.9]), macro_f1=0.7)
    after = SimpleNamespace(f1=np.array([0.75, 0.85]), macro_f1=0.8)
    assert before_after(("housing", "roads_transport"), before, after).splitlines() == [
        "theme            before  after  change",
        "housing           0.500  0.750  +0.250",
        "roads_transport   0.900  0.850  -0.050",
        "macro-F1          0.700  0.800  +0.100",
    ]
    assert cli.main(["themes", "eval", "--before", "no-such-model.tar.gz"]) == 2
    assert capsys.readouterr().err == "No model at no-such-model.tar.gz.\n"
