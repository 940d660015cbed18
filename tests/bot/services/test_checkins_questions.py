"""Officers' questions: their status, answers, reach, and ending one early (the service)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.services.checkins import (
    DEFAULT_WORDING,
    InvalidQuestion,
    QuestionDraft,
    add_question,
    default_question,
)
from bot.services.checkins_questions import (
    UnknownQuestion,
    end_question,
    list_questions,
    preview_message,
    reach,
)
from bot.services.consent import opt_out
from bot.services.views import store_view
from bot.targets import Targets
from tests.residents import add_resident

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def test_statuses_and_their_order(database):
    with database.transaction() as s:
        older = add_question(s, QuestionDraft(wording="Older", starts_at=T0 - timedelta(days=9)))
        newer = add_question(s, QuestionDraft(wording="Newer", starts_at=T0 - timedelta(days=1)))
        soon = add_question(s, QuestionDraft(wording="Soon", starts_at=T0 + timedelta(days=1)))
        later = add_question(s, QuestionDraft(wording="Later", starts_at=T0 + timedelta(days=9)))
        over = add_question(
            s,
            QuestionDraft(
                wording="Over", starts_at=T0 - timedelta(days=9), ends_at=T0 - timedelta(days=2)
            ),
        )
        standing = default_question(s)
        found = list_questions(s, now=T0)
    assert [(q.id, q.status) for q in found] == [
        (newer.id, "running"), (older.id, "running"), (standing.id, "running"),
        (soon.id, "planned"), (later.id, "planned"), (over.id, "ended"),
    ]  # fmt: skip
    assert [q.standing for q in found] == [False, False, True, False, False, False]


def test_ending(database):
    with database.transaction() as s:
        running = add_question(
            s, QuestionDraft(wording="Running", starts_at=T0 - timedelta(days=1))
        )
        planned = add_question(
            s, QuestionDraft(wording="Planned", starts_at=T0 + timedelta(days=1))
        )
        standing = default_question(s)
        assert end_question(s, running.id, actor="a", now=T0).ends_at == T0
        ended = end_question(s, planned.id, actor="a", now=T0)
        assert ended.starts_at == ended.ends_at == T0  # never asked, still in order
        with pytest.raises(InvalidQuestion, match="already ended"):
            end_question(s, running.id, actor="a", now=T0 + timedelta(seconds=1))
        with pytest.raises(InvalidQuestion, match="standing question"):
            end_question(s, standing.id, actor="a", now=T0)
        with pytest.raises(UnknownQuestion):
            end_question(s, 9999, actor="a", now=T0)
        assert standing.wording == DEFAULT_WORDING and standing.ends_at is None


def test_the_standing_question_is_known_by_its_mark_not_its_words(database):
    with database.transaction() as s:
        standing = default_question(s)
        same_words = add_question(
            s, QuestionDraft(wording=DEFAULT_WORDING, starts_at=T0 - timedelta(days=1))
        )
        assert default_question(s).id == standing.id
        listed = {q.id: q.standing for q in list_questions(s, now=T0)}
        assert listed == {standing.id: True, same_words.id: False}
        assert end_question(s, same_words.id, actor="a", now=T0).ends_at == T0


def test_reach_counts_residents_a_question_would_be_put_to(database):
    with database.transaction() as s:
        people = []
        for n, (area, theme) in enumerate(
            [("LS6", "housing"), ("LS6", "roads_transport"), ("LS7", "housing")]
        ):
            person = add_resident(s, "sms", f"+44770090050{n}", area=area)
            store_view(s, person, text="x", theme_key=theme, confidence=0.9, channel="sms")
            people.append(person)
        assert reach(s, now=T0) == 3
        assert reach(s, Targets(["housing"]), now=T0) == 2
        assert reach(s, Targets(["housing"], ["LS6"]), now=T0) == 1
        opt_out(s, people[0], channel="sms")
        assert reach(s, Targets(["housing"], ["LS6"]), now=T0) == 0


def test_the_message_is_measured_as_an_sms():
    preview = preview_message("How  are\nthe buses?", "Leeds Listens")
    assert preview.text == "Hi from Leeds Listens. How are the buses?"
    assert (preview.characters, preview.encoding, preview.sms) == (41, "GSM-7", 1)
    assert not preview.too_long
    assert preview_message("x" * 300, "Leeds Listens").sms == 3
