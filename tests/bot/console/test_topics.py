"""The Topics page: every role from analyst sees the groups; officers merge or propose."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from sqlalchemy import select

from bot.console import topics as page
from bot.models import AuditEvent, View
from tests.bot.console.conftest import csrf
from tests.residents import add_resident, add_view


class KeywordEncoder:
    """A stand-in for the sentence encoder: one direction per keyword, the rest apart."""

    def encode(self, texts):
        rows = []
        for n, text in enumerate(texts):
            row = np.zeros(64, dtype=np.float32)
            if "scooter" in text:
                row[0] = 1.0
            elif "music" in text:
                row[1] = 1.0
            else:
                row[2 + n % 62] = 1.0
            rows.append(row)
        return np.stack(rows)


@pytest.fixture
def planted(database, monkeypatch):
    monkeypatch.setattr(page, "encoder", KeywordEncoder)
    with database.transaction() as s:
        ids = []
        for n in range(4):
            person = add_resident(s, "sms", f"+4477009009{n:02d}", area="LS6")
            ids.append(add_view(s, person, f"scooter trouble {n}", None).id)
        for n in range(3):
            person = add_resident(s, "sms", f"+4477009008{n:02d}", area="LS7")
            add_view(s, person, f"loud music {n}", None)
        add_view(s, person, "hello there", None)
    return ids


def _text(reply) -> str:
    return re.sub(r"\s+", " ", reply.get_data(as_text=True))


def test_analysts_see_the_topics_and_officers_can_act_on_them(app, signed_in, planted):
    assert app.test_client().get("/topics").status_code == 302
    analyst = _text(signed_in("analyst").get("/topics"))
    assert '<li><a href="/topics">Topics</a></li>' in analyst
    topics = re.findall(r'<article class="question" id="topic-(T\d+)"', analyst)
    assert topics == [f"T{planted[0]}", topics[1]] and len(topics) == 2
    assert "(4 views, T" in analyst and "LS6 4" in analyst and "scooter trouble" in analyst
    assert "Merge into the theme" not in analyst and "Propose it" not in analyst
    officer = _text(signed_in("officer").get("/topics"))
    assert "Merge 4 views" in officer and "Propose it as a new theme" in officer
    client = signed_in("analyst")
    for path in ("/topics/merge", "/topics/propose"):
        assert client.post(path, data={"csrf_token": csrf(client)}).status_code == 403


def test_an_officer_merges_a_topic_into_a_theme(signed_in, planted, database):
    officer = signed_in("officer")
    reply = officer.post(
        "/topics/merge",
        data={"csrf_token": csrf(officer), "theme": "roads_transport",
              "view": [str(i) for i in planted]},
    )  # fmt: skip
    page_text = _text(officer.get(reply.location))
    assert "4 views moved to Roads &amp; transport: counts and targeting" in page_text
    assert len(re.findall(r'<article class="question" id="topic-', page_text)) == 1
    with database.transaction() as s:
        assert {v.theme_key for v in s.scalars(select(View).where(View.id.in_(planted)))} == {
            "roads_transport"
        }


def test_an_officer_proposes_a_new_theme(signed_in, planted, database, settings):
    officer = signed_in("officer")
    reply = officer.post(
        "/topics/propose",
        data={"csrf_token": csrf(officer), "key": "e_scooters", "label": "E-scooters",
              "description": "Scooters on pavements.", "view": [str(i) for i in planted]},
    )  # fmt: skip
    assert "Proposed the theme e_scooters" in _text(officer.get(reply.location))
    folder = settings.var_dir / "proposals" / "e_scooters"
    assert yaml.safe_load((folder / "theme.yml").read_text())["themes"][0]["key"] == "e_scooters"
    assert "scooter trouble 0" in (folder / "nlu.yml").read_text()
    wrong = officer.post(
        "/topics/propose",
        data={"csrf_token": csrf(officer), "key": "housing", "label": "H", "description": "d",
              "view": [str(planted[0])]},
    )  # fmt: skip
    assert "Nothing proposed: There is a theme housing already" in _text(
        officer.get(wrong.location)
    )
    with database.transaction() as s:
        assert s.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "topic.propose")
        ).all()


def test_without_the_encoder_the_page_says_so(signed_in, monkeypatch):
    def missing():
        raise FileNotFoundError("no encoder")

    monkeypatch.setattr(page, "encoder", missing)
    reply = signed_in("analyst").get("/topics")
    assert reply.status_code == 503 and "sentence encoder is not installed" in _text(reply)
