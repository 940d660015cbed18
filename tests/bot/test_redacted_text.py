"""A view's redacted text (`View.text_redacted`) is made when its text is written, and
follows every later write: words added, a correction, an officer's redaction, retention
emptying it; erasure leaves none of it behind."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from bot.models import View
from bot.redaction import REDACTION_VERSION, redact
from bot.retention import empty_old_view_texts
from bot.services.curation import redact_view
from bot.services.rights import erase, forget_last_view
from bot.services.views import add_words, correct_view_theme, set_view_theme, store_view
from tests.residents import add_resident

SAID = "the bins at 12 Fern Street were missed, call me on 07700 900123"
SAID_REDACTED = "the bins at [address] were missed, call me on [phone]"


def _stored(session, view_id: int) -> tuple[str, str | None, int | None]:
    """What the database holds (read past the session's own copy)."""
    session.flush()
    row = session.execute(
        select(View.text, View.text_redacted, View.redaction_version).where(View.id == view_id)
    ).one()
    return row[0], row[1], row[2]


def _jo_with_a_view(session, text: str = SAID) -> tuple[int, int, str]:
    jo = add_resident(session, "sms", "+447700900301", area="LS6")
    view = store_view(session, jo, text=text, theme_key="waste_recycling", confidence=0.9,
                      channel="sms")  # fmt: skip
    return jo.id, view.id, jo.conversation_id


def test_storing_a_view_stores_its_redacted_text(database):
    with database.transaction() as s:
        _, view_id, _ = _jo_with_a_view(s)
        assert _stored(s, view_id) == (SAID, SAID_REDACTED, REDACTION_VERSION)
        assert redact(SAID) == SAID_REDACTED


def test_words_added_and_corrections_are_redacted_too(database):
    with database.transaction() as s:
        _, view_id, conversation_id = _jo_with_a_view(s, "bins missed")
        add_words(s.get(View, view_id), "email me at jo@example.org")
        assert _stored(s, view_id)[1:] == ("bins missed\nemail me at [email]", REDACTION_VERSION)
        correct_view_theme(s, conversation_id, view_id, "housing",
                           more_text="see www.example.com/bins")  # fmt: skip
        assert _stored(s, view_id)[1] == "bins missed\nemail me at [email]\nsee [url]"
        jo = s.get(View, view_id).resident
        set_view_theme(s, jo, view_id, None, more_text="I'm at LS6 3AB")
        text, redacted, version = _stored(s, view_id)
        assert text.endswith("I'm at LS6 3AB") and redacted == redact(text)
        assert redacted.endswith("I'm at LS6") and version == REDACTION_VERSION


def test_an_officers_redaction_reaches_the_redacted_text(database):
    with database.transaction() as s:
        _, view_id, _ = _jo_with_a_view(s, "Jane Doe at 4 Mill Lane plays music all night")
        redact_view(s, view_id, [0, 1], actor="officer@council.example")
        text, redacted, _ = _stored(s, view_id)
        assert "Jane" not in text and "Jane" not in redacted
        assert redacted == "[redacted] at [address] plays music all night"


def test_retention_empties_the_redacted_text_with_the_text(database):
    old = datetime(2020, 5, 17, 10, 0, tzinfo=timezone.utc)
    with database.transaction() as s:
        _, view_id, _ = _jo_with_a_view(s)
        s.get(View, view_id).created_at = old
        _, kept_id, _ = _jo_with_a_view(s, "recent words, 07700 900123")
    assert empty_old_view_texts(database, datetime(2021, 1, 1, tzinfo=timezone.utc)) == 1
    with database.transaction() as s:
        assert _stored(s, view_id) == ("", "", REDACTION_VERSION)
        assert _stored(s, kept_id)[1] == "recent words, [phone]"
        # A text emptied by a write that left its redacted text behind is emptied too.
        s.execute(update(View).where(View.id == kept_id).values(text="", created_at=old))
    assert empty_old_view_texts(database, datetime(2021, 1, 1, tzinfo=timezone.utc)) == 1
    with database.transaction() as s:
        assert _stored(s, kept_id) == ("", "", REDACTION_VERSION)


def test_erasure_and_forgetting_leave_no_redacted_text(database):
    with database.transaction() as s:
        jo_id, view_id, conversation_id = _jo_with_a_view(s)
        jo = s.get(View, view_id).resident
        latest = store_view(s, jo, text="4 Fern St again", theme_key=None, confidence=None,
                            channel="sms")  # fmt: skip
        latest_id = latest.id
        other = add_resident(s, "sms", "+447700900302")
        store_view(s, other, text="someone else's bins", theme_key=None, confidence=None,
                   channel="sms")  # fmt: skip
        other_id = other.id
    with database.transaction() as s:
        assert forget_last_view(s, conversation_id).id == latest_id
        assert s.get(View, latest_id) is None
    with database.transaction() as s:
        erase(s, jo_id, key="dnc-test-key", actor="cli:dpo", tracker_events=0)
    with database.transaction() as s:
        left = s.execute(select(View.resident_id, View.text, View.text_redacted)).all()
    assert left == [(other_id, "someone else's bins", "someone else's bins")]


def test_the_console_shows_the_stored_redaction_or_redacts_an_old_one():
    view = View(text=SAID)
    assert view.redacted_words() == SAID_REDACTED
    view.text_redacted = "made by other rules"
    assert view.redacted_words() == "made by other rules"  # today's version: as stored
    view.redaction_version = REDACTION_VERSION - 1
    assert view.redacted_words() == SAID_REDACTED  # older rules: redacted again
