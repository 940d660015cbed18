"""Loop status: views by theme and district lately, who was told of a change since, and the
largest concerns nobody was told about first."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete

from bot.models import OutboxMessage, Update, UpdateView
from bot.services.curation import hide
from bot.services.identities import resident_at
from bot.services.loop import loop_status
from bot.services.views import store_view
from tests.residents import add_resident

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=timezone.utc)


def _view(s, address: str, area: str | None, theme: str, days_ago: float):
    person = resident_at(s, "sms", address) or add_resident(s, "sms", address)
    person.area = area
    view = store_view(s, person, text="x", theme_key=theme, confidence=0.9, channel="sms")
    view.area, view.created_at = area, NOW - timedelta(days=days_ago)
    s.flush()
    return view


def _told(s, title: str, themes: str, residents, days_ago: float, picked=()) -> Update:
    update = Update(title=title, you_said="x", we_did="y", themes=themes, areas="[]",
                    created_by="o", published_at=NOW - timedelta(days=days_ago))  # fmt: skip
    s.add(update)
    s.flush()
    for view_id in picked:
        s.add(UpdateView(update_id=update.id, view_id=view_id))
    for resident_id in residents:
        s.add(OutboxMessage(update_id=update.id, resident_id=resident_id, channel="sms",
                            status="sent", sent_at=NOW - timedelta(days=days_ago)))  # fmt: skip
    s.flush()
    return update


@pytest.fixture
def loop(database):
    with database.transaction() as s:
        a = _view(s, "+447700900701", "LS6", "roads_transport", 5)
        b = _view(s, "+447700900702", "LS6", "roads_transport", 40)
        c = _view(s, "+447700900703", "LS6", "roads_transport", 60)
        _view(s, "+447700900704", "LS6", "roads_transport", 100)  # before the period
        bins = _view(s, "+447700900701", "LS6", "waste_recycling", 20)
        _view(s, "+447700900705", "LS7", "housing", 10)
        _view(s, "+447700900706", "LS8", "housing", 50)
        _view(s, "+447700900707", "LS8", "housing", 2)
        spam = _view(s, "+447700900708", "LS8", "housing", 3)
        hide(s, [spam.id], "spam", actor="o")
        buses = _told(s, "Later buses", '["roads_transport"]', [a.resident_id, c.resident_id], 3)
        # Told about bins before speaking about them: not an answer.
        _told(s, "Bins", '["waste_recycling"]', [bins.resident_id], 30)
        # Picked views are answered whatever the update's themes.
        _told(s, "Street clean", "[]", [b.resident_id], 1, picked=[b.id])
        return {"buses": buses.id}


def test_rows_say_what_was_said_and_who_was_told(database, loop):
    with database.transaction() as s:
        rows = loop_status(s, NOW)
    summary = [(r.theme_key, r.area, r.views_recent, r.views, r.residents, r.told) for r in rows]
    assert summary == [
        ("housing", "LS8", 1, 2, 2, 0),  # nobody told, largest first
        ("housing", "LS7", 1, 1, 1, 0),
        ("waste_recycling", "LS6", 1, 1, 1, 0),
        ("roads_transport", "LS6", 1, 3, 3, 3),
    ]
    roads = rows[-1]
    assert roads.update_title == "Street clean" and roads.told_at == NOW - timedelta(days=1)
    assert rows[0].sentence == (
        "2 residents in LS8 spoke about housing since April; nobody has been told anything."
    )
    assert rows[1].sentence == (
        "1 resident in LS7 spoke about housing since May; they have not been told anything."
    )
    assert roads.sentence == (
        "3 residents in LS6 spoke about roads & transport since April; all of them told of a "
        "change, most recently on 9 June."
    )


def test_a_share_told_and_narrowing_by_theme_and_district(database, loop):
    with database.transaction() as s:
        s.execute(delete(UpdateView))  # the picked view is no longer answered
        (roads,) = loop_status(s, NOW, theme="roads_transport", area="ls6")
    assert (roads.told, f"{roads.share:.2f}", roads.update_id) == (2, "0.67", loop["buses"])
    assert roads.sentence.endswith("2 of them (67%) told of a change, most recently on 7 June.")
    with database.transaction() as s:
        assert loop_status(s, NOW, area="LS9") == []
