"""Emerging topics: which views are candidates, grouping by meaning with the project's
sentence encoder (two planted topics are found, the same way every time), merging a topic
into a theme and proposing one as a new theme."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import yaml
from sqlalchemy import select

from bot.models import AuditEvent, View
from bot.services.curation import hide, retheme
from bot.services.identities import resident_at
from bot.services.topics import (
    TopicError,
    candidates,
    find_topics,
    group,
    merge_topic,
    propose_theme,
    training_examples,
)
from bot.services.views import store_view
from bot.settings import get_settings
from tests.residents import add_resident

NOW = datetime.now(timezone.utc)
SCOOTERS = [
    "e-scooters flying along the pavement, nearly hit my nan",
    "kids on electric scooters racing down the footpath",
    "those rental scooters are dumped everywhere on the pavements",
    "someone on an e scooter knocked my daughter over outside the shop",
    "ban the electric scooters from the pavement please",
    "scooter riders going 20mph on the footpath by the school",
]
NOISE = [
    "the new nightclub plays music till 4am every weekend",
    "loud music from the bar next door keeps us awake",
    "party house on our street, bass thumping all night",
    "cant sleep because of the noise from the pub garden",
    "neighbours blast music at 3 in the morning",
]
OTHER = [
    "hello is this a real person",
    "when is the next election",
    "my favourite colour is blue",
    "thanks for asking",
    "can you recommend a good plumber",
    "the weather has been lovely",
    "who won the football",
]


def _view(s, n: int, text: str, theme=None, confidence=0.2, days_ago: float = 1, area="LS6"):
    address = f"+4477009008{n:02d}"
    person = resident_at(s, "sms", address) or add_resident(s, "sms", address)
    person.area = area
    view = store_view(s, person, text=text, theme_key=theme, confidence=confidence, channel="sms")
    view.created_at = NOW - timedelta(days=days_ago)
    s.flush()
    return view


@pytest.fixture(scope="module")
def encode():
    from bot.nlu.embeddings import shared_encoder

    directory = get_settings().encoder_dir
    if not (directory / "model.safetensors").exists():
        pytest.skip("the sentence encoder is not installed (make install)")
    return shared_encoder(directory).encode


def test_grouping_starts_from_the_densest_view_and_is_stable():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    vectors = np.stack([a, b, a, b, a, (a + b) / np.sqrt(2), b, a])
    assert group(vectors, similar=0.9, min_size=3) == [[0, 2, 4, 7], [1, 3, 6]]
    assert group(vectors, similar=0.9, min_size=5) == []
    assert group(np.zeros((0, 2)), 0.9, 3) == []


def test_candidates_fit_no_theme_well(database):
    with database.transaction() as s:
        none = _view(s, 1, "something else entirely", theme=None, confidence=None)
        unsure = _view(s, 2, "not sure what this is", theme="housing", confidence=0.3)
        _view(s, 3, "damp flat", theme="housing", confidence=0.9)
        corrected = _view(s, 4, "roads really", theme="housing", confidence=0.3)
        retheme(s, [corrected.id], ["roads_transport"], actor="o")  # an officer decided
        taken_out = _view(s, 5, "fits nothing", theme="housing", confidence=0.9)
        retheme(s, [taken_out.id], [], actor="o")
        hidden = _view(s, 6, "spam spam", theme=None)
        hide(s, [hidden.id], "spam", actor="o")
        _view(s, 7, "old news", theme=None, days_ago=200)
        rating = _view(s, 8, "3", theme=None)
        rating.rating = 3
        s.flush()
        found = candidates(s, low_confidence=0.5, now=NOW)
    assert [c.view_id for c in found] == [none.id, unsure.id, taken_out.id]


def test_two_planted_topics_are_found_the_same_way_every_time(database, encode):
    with database.transaction() as s:
        ids = {}
        for n, text in enumerate(SCOOTERS + NOISE + OTHER):
            area = "LS6" if text in SCOOTERS else "LS7"
            ids[text] = _view(s, n, text, days_ago=n % 7 + (40 if n == 2 else 0), area=area).id
        for n, text in enumerate(["bins not collected", "the bus is late", "damp in my flat"]):
            _view(s, 50 + n, text, theme="housing", confidence=0.95)  # themed: not candidates
        first = find_topics(s, encode, low_confidence=0.5, now=NOW)
        again = find_topics(s, encode, low_confidence=0.5, now=NOW)
    assert first == again
    assert [sorted(t.view_ids) for t in first] == [
        sorted(ids[t] for t in SCOOTERS),
        sorted(ids[t] for t in NOISE),
    ]
    scooters, noise = first
    assert scooters.size == 6 and scooters.districts == (("LS6", 6),)
    assert scooters.key == f"T{min(scooters.view_ids)}"
    assert (scooters.recent, scooters.before, scooters.trend) == (5, 1, "rising")
    assert "scooters" in scooters.words and all(t in SCOOTERS for t in scooters.typical)
    assert noise.districts == (("LS7", 5),) and "music" in noise.words
    assert set(scooters.as_dict()) >= {"key", "size", "typical", "districts", "trend"}


def test_merging_a_topic_puts_its_views_under_a_theme(database):
    with database.transaction() as s:
        views = [_view(s, n, f"scooters {n}") for n in range(3)]
        assert merge_topic(s, [v.id for v in views], "roads_transport", actor="o") == 3
        assert {(v.theme_key, v.theme_source) for v in views} == {("roads_transport", "officer")}
        with pytest.raises(TopicError):
            merge_topic(s, [views[0].id], "scooters", actor="o")


def test_proposing_a_theme_writes_a_catalogue_entry_and_training_candidates(database, tmp_path):
    with database.transaction() as s:
        views = [
            _view(s, 1, "e-scooters on the pavement, call me on 07700 900123"),
            _view(s, 2, "scooters  racing\nby the school"),
            _view(s, 3, "e-scooters on the pavement, call me on 07700 900123"),
        ]
        folder = propose_theme(
            s, [v.id for v in views], key="e_scooters", label="E-scooters",
            description="E-scooters on pavements and roads.", directory=tmp_path,
            actor="officer@council.example",
        )  # fmt: skip
        for wrong, message in (
            ({"key": "Scooters!"}, "lower-case"),
            ({"key": "housing"}, "merge the topic into it"),
            ({"label": "x" * 41}, "1-40 plain characters"),
            ({"description": " "}, "what the theme covers"),
        ):
            fields = {"key": "e_scooters", "label": "E-scooters", "description": "d", **wrong}
            with pytest.raises(TopicError, match=message):
                propose_theme(s, [views[0].id], directory=tmp_path, actor="o", **fields)
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "topic.propose")).one()
        assert event.target == "theme:e_scooters"
        assert s.get(View, views[0].id).theme_key is None  # nothing else changes
    assert folder == tmp_path / "e_scooters"
    entry = yaml.safe_load((folder / "theme.yml").read_text())
    assert entry == {"themes": [{"key": "e_scooters", "label": "E-scooters",
                                 "description": "E-scooters on pavements and roads."}]}  # fmt: skip
    nlu = yaml.safe_load((folder / "nlu.yml").read_text())
    assert nlu["nlu"][0]["metadata"] == {"theme": "e_scooters"}
    assert nlu["nlu"][0]["examples"].splitlines() == [
        "- e-scooters on the pavement, call me on [phone]",
        "- scooters racing by the school",
    ]


def test_training_examples_have_no_entity_markup():
    assert training_examples(["ring [me](now) or {x}", "call 07700 900123(ext 2)"]) == [
        "ring [me] (now) or {x}",
        "call [phone] (ext 2)",
    ]
