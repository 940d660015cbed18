"""Officers curating views: re-theme, redact, hide and mark answered, and what follows them
(counts, exports, targeting, check-ins, the conversation)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.exports import ExportFilter, view_rows
from bot.exports.counts import count_rows
from bot.models import AuditEvent, InboxMessage, UpdateView, View, ViewTheme
from bot.services.checkins import QuestionDraft, add_question, questions_for
from bot.services.checkins_questions import reach
from bot.services.curation import (
    REDACTED,
    CurationError,
    UnknownView,
    hide,
    mark_answered,
    redact_everywhere,
    redacted_text,
    retheme,
    text_digest,
    unhide,
)
from bot.services.dashboard import ViewFilter, latest_views, views_per_week
from bot.services.updates import UpdateDraft, draft_update, preview, preview_details
from bot.services.views import set_view_theme, store_view
from bot.targets import Targets
from bot.tracker_store import events_of
from tests.residents import add_resident

KEY = "test-pseudonym-key"
NOW = datetime.now(timezone.utc)


@pytest.fixture
def two(database):
    """Two residents in LS6, one view each: buses (roads) and bins (waste)."""
    with database.transaction() as s:
        a = add_resident(s, "sms", "+447700900601", area="LS6")
        b = add_resident(s, "sms", "+447700900602", area="LS6")
        bus = store_view(s, a, text="the bus is late", theme_key="roads_transport",
                         confidence=0.8, channel="sms")  # fmt: skip
        bins = store_view(s, b, text="bins missed again", theme_key="waste_recycling",
                          confidence=0.9, channel="sms")  # fmt: skip
        return {"a": a.id, "b": b.id, "bus": bus.id, "bins": bins.id}


def _totals(s) -> dict:
    return {key: sum(weeks) for key, weeks in views_per_week(s).by_theme.items()}


@pytest.mark.parametrize(
    ("text", "chosen", "expected", "removed"),
    [
        ("Call John Smith, he knows", [1, 2], f"Call {REDACTED}, he knows", ["John Smith"]),
        ("ask (Mary) now", [1], f"ask ({REDACTED}) now", ["Mary"]),
        ("Jo and Al came", [0, 2], f"{REDACTED} and {REDACTED} came", ["Jo", "Al"]),
        ("flat  3b\nnear", [1], f"flat  {REDACTED}\nnear", ["3b"]),
        ("so ... yes", [1], f"so {REDACTED} yes", ["..."]),
    ],
)
def test_redacted_text(text, chosen, expected, removed):
    assert redacted_text(text, chosen) == (expected, removed)


def test_redacting_nothing_or_words_that_are_not_there_is_refused():
    with pytest.raises(CurationError):
        redacted_text("two words", [])
    with pytest.raises(CurationError):
        redacted_text("two words", [2])


def test_rethemed_views_move_in_counts_exports_and_targeting(database, two):
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(title="t", you_said="homes", we_did="more homes", themes=["housing"]),
            created_by="o",
        )
        assert preview(s, update)["total"] == 0
        changed = retheme(s, [two["bus"], two["bins"]], ["housing", "roads_transport"],
                          actor="officer@council.example")  # fmt: skip
        assert changed == 2
        view = s.get(View, two["bus"])
        assert (view.theme_key, view.theme_source, view.confidence) == ("housing", "officer", None)
        assert view.theme_set_at is not None and view.theme_set_at >= view.created_at
        themes = s.scalars(
            select(ViewTheme.theme_key).where(ViewTheme.view_id == view.id).order_by(ViewTheme.rank)
        ).all()
        assert themes == ["housing", "roads_transport"]
        assert _totals(s) == {"housing": 2, "roads_transport": 2}
        assert preview(s, update)["total"] == 2
        rows = list(view_rows(s, ExportFilter(), KEY))
        assert {(r["theme_key"], r["themes"], r["theme_set_by"]) for r in rows} == {
            ("housing", "housing;roads_transport", "officer")
        }
        counts = list(count_rows(s, ExportFilter(), ("theme",), minimum=1))
        assert {r["theme"]: r["views"] for r in counts} == {
            "roads_transport": 2, "housing": 2, "All": 4,
        }  # fmt: skip
        # "Something else": no themes at all.
        retheme(s, [two["bins"]], [], actor="officer@council.example")
        assert s.get(View, two["bins"]).theme_key is None
        assert _totals(s) == {"housing": 1, "roads_transport": 1, None: 1}
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "view.retheme")).first()
        assert json.loads(event.detail) == {
            "themes": ["housing", "roads_transport"], "views": [two["bus"], two["bins"]],
        }  # fmt: skip
        with pytest.raises(CurationError, match="unknown themes: potholes"):
            retheme(s, [two["bus"]], ["potholes"], actor="o")
        with pytest.raises(UnknownView):
            retheme(s, [two["bus"], 99999], ["housing"], actor="o")


def test_a_residents_correction_records_when_too(database, two):
    with database.transaction() as s:
        view = s.get(View, two["bus"])
        view.theme_set_at = NOW - timedelta(days=3)
        s.flush()
        set_view_theme(s, view.resident, view.id, "housing")
        assert view.theme_source == "resident" and view.theme_set_at > NOW - timedelta(minutes=5)


def test_hidden_views_are_left_out_of_everything_until_shown_again(database, two):
    with database.transaction() as s:
        by_theme = draft_update(
            s,
            UpdateDraft(
                title="t", you_said="buses", we_did="more buses", themes=["roads_transport"]
            ),
            created_by="o",
        )
        picked = draft_update(
            s,
            UpdateDraft(title="p", you_said="buses", we_did="more buses", view_ids=[two["bus"]]),
            created_by="o",
        )
        question = add_question(
            s,
            QuestionDraft(
                wording="Buses?", themes=["roads_transport"], starts_at=NOW - timedelta(days=1)
            ),
        )
        a = s.get(View, two["bus"]).resident
        assert questions_for(s, [a], NOW)[a.id].id == question.id
        assert hide(s, [two["bus"]], "spam", actor="officer@council.example") == 1
        assert _totals(s) == {"waste_recycling": 1}
        assert [r.id for r in latest_views(s, ViewFilter()).rows] == [two["bins"]]
        assert [r.id for r in latest_views(s, ViewFilter(hidden=True)).rows] == [two["bus"]]
        assert latest_views(s, ViewFilter(hidden=True)).rows[0].hidden_reason == "spam"
        assert [r["text"] for r in view_rows(s, ExportFilter(), KEY)] == ["bins missed again"]
        assert preview(s, by_theme)["total"] == 0 and preview(s, picked)["total"] == 0
        details = preview_details(s, picked)
        assert (details.views, details.picked, details.matches) == (0, 0, [])
        assert reach(s, Targets(["roads_transport"]), now=NOW) == 0
        assert questions_for(s, [a], NOW)[a.id].id != question.id
        with pytest.raises(CurationError, match="reason"):
            hide(s, [two["bins"]], "boring", actor="o")
        assert hide(s, [two["bus"]], "test", actor="o") == 0  # already hidden: a new reason
        assert s.get(View, two["bus"]).hidden_reason == "test"
        unhide(s, two["bus"], actor="officer@council.example")
        assert _totals(s) == {"waste_recycling": 1, "roads_transport": 1}
        assert preview(s, by_theme)["total"] == 1 and preview(s, picked)["total"] == 1
        with pytest.raises(CurationError, match="not hidden"):
            unhide(s, two["bus"], actor="o")
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["view.hide", "view.hide", "view.unhide"]


def test_marking_views_answered_links_them_once(database, two):
    with database.transaction() as s:
        update = draft_update(
            s, UpdateDraft(title="t", you_said="x", we_did="y", themes=["housing"]), created_by="o"
        )
        assert mark_answered(s, [two["bus"], two["bins"]], update.id, actor="o") == 2
        assert mark_answered(s, [two["bus"]], update.id, actor="o") == 0
        linked = s.scalars(select(UpdateView.view_id).where(UpdateView.update_id == update.id))
        assert sorted(linked) == sorted([two["bus"], two["bins"]])
        assert preview(s, update)["total"] == 2  # a draft now reaches their residents too
        with pytest.raises(CurationError, match="no update 999"):
            mark_answered(s, [two["bus"]], 999, actor="o")
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "view.answered")).first()
        assert event.target == f"update:{update.id}"


def test_redacting_takes_the_words_out_of_the_view_the_inbox_and_the_conversation(
    database, tracker
):
    from rasa.shared.core.events import BotUttered, UserUttered

    from tests.tracker import save_conversation

    words = "my neighbour Jane Doe at number 4 plays music all night"
    with database.transaction() as s:
        person = add_resident(s, "sms", "+447700900603", area="LS6")
        message = InboxMessage(resident_id=person.id, channel="sms", text=words, status="done")
        s.add(message)
        s.flush()
        view = store_view(s, person, text=words, theme_key="community_safety", confidence=0.9,
                          channel="sms", inbox_id=message.id)  # fmt: skip
        ids = view.id, message.id, person.conversation_id
    save_conversation(tracker, ids[2], [
        UserUttered("hello Jane", parse_data={"text": "hello Jane"}),
        BotUttered("Hi! What is on your mind?"),
        UserUttered(words, parse_data={"text": words, "intent": {"name": "give_view"}}),
        BotUttered("Noted under Community safety."),
    ])  # fmt: skip
    with pytest.raises(CurationError, match="changed meanwhile"):
        redact_everywhere(database, database, ids[0], [2, 3], actor="o", expected="0" * 16)
    text = redact_everywhere(
        database, database, ids[0], [2, 3], actor="officer@council.example",
        expected=text_digest(words),
    )  # fmt: skip
    expected = f"my neighbour {REDACTED} at number 4 plays music all night"
    assert text == expected
    with database.transaction() as s:
        assert s.get(View, ids[0]).text == expected
        assert s.get(View, ids[0]).redacted_at is not None
        assert s.get(InboxMessage, ids[1]).text == expected
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "view.redact")).one()
        assert json.loads(event.detail) == {"words": 2} and "Jane" not in event.detail
    with database.engine.connect() as connection:
        said = [e.data for e in events_of(connection, ids[2]) if e.type == "user"]
    assert [d["text"] for d in said] == ["hello Jane", expected]  # another message is left
    assert said[1]["parse_data"]["text"] == expected
