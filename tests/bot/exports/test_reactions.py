"""Reactions to published updates: one row each, with the update's title, themes and areas,
the reaction and the comment's redacted text; filtered by update, theme, area, channel."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.exports import ExportError, ExportFilter, ExportRequest
from bot.exports.reactions import reaction_rows
from bot.models import AuditEvent, OutboxMessage
from bot.pseudonyms import pseudonym
from bot.services.identities import resident_for
from bot.services.reactions import record_reaction
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.services.views import store_view
from tests.bot.exports.support import DAY, KEY, run_export


@pytest.fixture
def two_updates(golden, database):
    """The golden update (roads and waste, everywhere) and one about housing in LS6."""
    with database.transaction() as s:
        jo = resident_for(s, "sms", "+447700900123")
        store_view(s, jo, text="damp flats", theme_key="housing", confidence=0.9, channel="sms")
        update = draft_update(
            s,
            UpdateDraft(
                title="Damp repairs",
                you_said="flats are damp",
                we_did="We fixed 20 flats.",
                themes=["housing"],
                areas=["LS6"],
            ),
            created_by="t",
        )
        publish(s, update.id)
        outbox = s.scalars(select(OutboxMessage).where(OutboxMessage.update_id == update.id)).one()
        reaction = record_reaction(
            s, outbox.id, jo.conversation_id, kind="not_helped", channel="sms"
        )
        reaction.created_at = DAY.replace(day=25)
        return {**golden, "housing": update.id}


def _rows(database, **filters):
    with database.transaction() as s:
        return list(reaction_rows(s, ExportFilter.checked(**filters), KEY))


def test_a_row_says_which_update_what_it_was_about_and_the_reaction(database, two_updates):
    helped, comment, not_helped = _rows(database)
    assert helped == {
        "resident": pseudonym(two_updates["jo"], KEY),
        "update_id": two_updates["update"],
        "update_title": "+1 bus an hour: bysiau ŵ",
        "update_themes": "roads_transport;waste_recycling",
        "update_areas": "",
        "reaction": "helped",
        "channel": "sms",
        "created_at": DAY.replace(day=23),
        "text": "",
    }
    assert comment["reaction"] == "comment"
    assert comment["text"] == "-1 for this, tel [phone] or [email]"  # redacted
    assert comment["resident"] == pseudonym(two_updates["ann"], KEY)
    assert (not_helped["update_title"], not_helped["update_themes"]) == ("Damp repairs", "housing")
    assert not_helped["update_areas"] == "LS6"


def test_filters_pick_by_update_theme_area_and_channel(database, two_updates):
    reactions = lambda **f: [r["reaction"] for r in _rows(database, **f)]  # noqa: E731
    assert reactions(update_id=two_updates["update"]) == ["helped", "comment"]
    assert reactions(update_id=two_updates["housing"]) == ["not_helped"]
    assert reactions(themes=["housing"]) == ["not_helped"]  # the update's themes
    assert reactions(themes=["waste_recycling"]) == ["helped", "comment"]
    assert reactions(channel="telegram") == ["comment"]
    # The golden update names no area: it is about everywhere, so LS7 keeps it.
    assert reactions(areas=["LS7"]) == ["helped", "comment"]
    assert reactions(since=DAY.replace(day=24), until=DAY.replace(day=25)) == ["comment"]


def test_views_pick_the_comments_on_one_update(database, two_updates):
    from bot.exports import view_rows

    with database.transaction() as s:
        wanted = ExportFilter.checked(update_id=two_updates["update"])
        [comment] = view_rows(s, wanted, KEY)
    assert comment["text"] == "-1 for this, tel [phone] or [email]"
    assert comment["update_id"] == two_updates["update"]


def test_question_is_refused_in_one_line(database, two_updates, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ExportError) as refused:
        run_export(database, folder / "reactions.csv", "reactions", "csv", question_id=4)
    assert str(refused.value) == "--question does not apply to an export of reactions"
    assert list(folder.iterdir()) == []  # no file, and no half-written one beside it
    # However the request was made.
    with pytest.raises(ExportError, match="--question"):
        ExportRequest("reactions", "csv", ExportFilter(question_id=4))


def test_an_update_or_question_that_is_not_there_is_refused_in_one_line(
    database, two_updates, tmp_path
):
    folder = tmp_path / "out"
    folder.mkdir()
    for kind, filters, message in (
        ("reactions", {"update_id": 999}, "there is no update 999"),
        ("views", {"update_id": 999}, "there is no update 999"),
        ("views", {"question_id": 998}, "there is no check-in question 998"),
        ("counts", {"question_id": 998}, "there is no check-in question 998"),
    ):
        with pytest.raises(ExportError) as refused:
            run_export(database, folder / f"{kind}.csv", kind, "csv", **filters)
        assert str(refused.value) == message
    assert list(folder.iterdir()) == []


def test_the_reactions_export_is_audited_without_personal_data(database, two_updates, tmp_path):
    path = tmp_path / "reactions.jsonl"
    assert run_export(database, path, "reactions", "jsonl", channel="sms") == 2
    with database.transaction() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.reactions"))
        assert json.loads(event.detail) == {
            "format": "jsonl", "filters": {"channel": "sms"}, "rows": 2
        }  # fmt: skip
        assert event.actor == "cli:test"


def test_a_comment_officers_hid_is_left_out(database, two_updates):
    from bot.models import UpdateReaction
    from bot.services.curation import hide

    with database.transaction() as s:
        comment = s.scalars(select(UpdateReaction).where(UpdateReaction.kind == "comment")).one()
        hide(s, [comment.view_id], "abusive", actor="officer@council.example")
    assert [row["reaction"] for row in _rows(database)] == ["helped", "not_helped"]
