""" "You said, we did": exactly the residents concerned, and never queued twice."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.models import AuditEvent, OutboxMessage, Update, View
from bot.services.consent import opt_out
from bot.services.identities import mark_unreachable
from bot.services.updates import (
    InvalidUpdate,
    NobodyToTell,
    UpdateDraft,
    draft_update,
    news_for,
    preview,
    preview_draft,
    publish,
    publish_recorded,
    update_message,
)
from bot.services.views import store_view
from tests.residents import add_resident

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def resident(s, address, channel="sms", theme="roads_transport", area=None, consent=True):
    """`add_resident`, with a view on `theme` 10 days after T0 if they consented."""
    person = add_resident(s, channel, address, area=area, consent=consent)
    if consent:
        view = store_view(s, person, text="t", theme_key=theme, confidence=0.9, channel=channel)
        view.created_at = T0 + timedelta(days=10)
    return person


def draft(s, **kwargs) -> Update:
    defaults = {
        "title": "Later buses",
        "you_said": "buses stop too early",
        "we_did": "From 3 March the 42 runs until 11pm.",
        "themes": ["roads_transport"],
    }
    return draft_update(s, UpdateDraft(**{**defaults, **kwargs}), created_by="test")


def test_the_message_residents_read():
    """It names who sends it, reads true for every recipient and says how to stop."""
    said, did = "buses stop too early.", "From 3 March the 42 runs until 11pm."
    assert update_message(said, did, org_name="Leeds Listens") == (
        "Leeds Listens: you and others told us buses stop too early. From 3 March the 42 "
        "runs until 11pm. Did this help? Reply YES or NO. Reply STOP to stop."
    )
    coming = update_message(said, did, coming=True, org_name="Leeds Listens")
    assert coming == (
        "Leeds Listens: you and others told us buses stop too early. Coming soon: From 3 March "
        "the 42 runs until 11pm. We'll tell you when it's done. Reply STOP to stop."
    )
    assert "Did this help" not in coming  # nothing has happened yet to help


@pytest.mark.parametrize(
    ("did", "reads"),
    [
        ("a second crew on Tuesdays", "a second crew on Tuesdays. Did this help?"),
        ("a second crew on Tuesdays!", "a second crew on Tuesdays! Did this help?"),
        ('we said "more crews."', 'we said "more crews." Did this help?'),
        ("a second crew (on Tuesdays)", "a second crew (on Tuesdays). Did this help?"),
    ],
)
def test_what_changed_ends_as_a_sentence_before_the_question(did, reads):
    assert reads in update_message("bins are missed", did, org_name="Leeds Listens")
    coming = update_message("bins are missed", did, coming=True, org_name="Leeds Listens")
    assert reads.replace("Did this help?", "We'll tell you") in coming


def test_a_coming_change_is_checked_with_its_own_wording(database):
    with database.transaction() as s:
        update = draft(s, coming=True)
        assert update.stage == "coming"
        assert draft(s).stage == "done"
        said = "buses stop too early"
        # "We did" that just fits, as done, with the full stop it is given.
        longest = 306 - len(update_message(said, "")) - 1
        draft(s, you_said=said, we_did="x" * longest)
        with pytest.raises(InvalidUpdate):  # but not with the "coming soon" wording
            draft(s, you_said=said, we_did="x" * longest, coming=True)


def test_a_view_about_two_things_is_reached_by_an_update_on_either(database):
    with database.transaction() as s:
        person = resident(s, "+447700900011", theme="roads_transport")
        store_view(
            s, person, text="trams late and dog mess everywhere", theme_key="roads_transport",
            confidence=0.8, channel="sms", also=[("waste_recycling", 0.7)],
        )  # fmt: skip
        bins = draft(s, themes=["waste_recycling"], title="Cleaner streets")
        assert preview(s, bins)["total"] == 1
        housing = draft(s, themes=["housing"], title="Repairs")
        assert preview(s, housing)["total"] == 0


def test_news_is_the_latest_updates_that_answered_the_resident(database):
    with database.transaction() as s:
        person = resident(s, "+447700900021", area="LS6")
        conversation = person.conversation_id
        assert news_for(s, conversation) == []
        other = draft(s, themes=["housing"], title="Repairs")
        publish(s, other.id)
        first = draft(s, title="First")
        publish(s, first.id, now=T0 + timedelta(days=20))
        later = resident(s, "+447700900022", area="LS6")  # joined after: would have been told
        second = draft(s, title="Second", we_did="The 42 now runs every 10 minutes.")
        publish(s, second.id, now=T0 + timedelta(days=30))
        assert [u.title for u in news_for(s, conversation)] == ["Second", "First"]
        assert [u.title for u in news_for(s, later.conversation_id)] == ["Second", "First"]
        assert news_for(s, "nobody") == []


def test_recipients_are_exactly_the_residents_concerned(database):
    with database.transaction() as s:
        wanted = resident(s, "+447700900001", area="LS6")
        telegram = resident(s, "4242", channel="telegram", area="LS6")
        resident(s, "+447700900003", theme="housing", area="LS6")  # other theme
        resident(s, "+447700900004", consent=False)  # said no
        stopped = resident(s, "+447700900005", area="LS6")
        opt_out(s, stopped, channel="sms")
        resident(s, "4343", channel="telegram", area="LS6")
        mark_unreachable(s, "telegram", "4343")  # blocked the bot
        resident(s, "+447700900007", area="M14")  # other area
        update = draft(s, areas=["LS6"])
        assert preview(s, update) == {"sms": 1, "telegram": 1, "total": 2}
        assert publish(s, update.id) == 2
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.resident_id)).all()
        assert [(r.resident_id, r.channel, r.status) for r in rows] == [
            (wanted.id, "sms", "queued"),
            (telegram.id, "telegram", "queued"),
        ]


def test_the_date_window_and_hand_picked_views(database):
    with database.transaction() as s:
        resident(s, "+447700900001")
        other = resident(s, "+447700900002", theme="housing")
        assert preview(s, draft(s, since=T0 + timedelta(days=11)))["total"] == 0
        assert preview(s, draft(s, since=T0, until=T0 + timedelta(days=11)))["total"] == 1
        housing_view = s.scalars(select(View.id).where(View.resident_id == other.id)).one()
        assert preview(s, draft(s, view_ids=[housing_view]))["total"] == 2


def test_publishing_twice_queues_nobody_twice(database):
    with database.transaction() as s:
        resident(s, "+447700900001")
        update = draft(s)
        assert publish(s, update.id) == 1
        assert publish(s, update.id) == 0
    with database.transaction() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 1


def test_two_publishes_at_once_queue_each_resident_once(database):
    with database.transaction() as s:
        for n in range(30):
            resident(s, f"+4477009{n:05d}")
        update_id = draft(s).id
    results: list[int] = []

    def click() -> None:
        with database.transaction() as s:
            results.append(publish(s, update_id))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert sorted(results) == [0, 30]
    with database.transaction() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 30


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"title": " "}, "are all needed"),
        ({"we_did": "x" * 300}, "must fit 2 SMS"),
        ({"we_did": "Done properly \U0001f642."}, "special characters such as emoji"),
        ({"themes": ["aliens"]}, "unknown themes"),
        ({"themes": [], "areas": ["Leeds"]}, "postcode district"),
        ({"themes": []}, "say which themes"),
        ({"since": T0, "until": T0}, "ends before"),
        ({"view_ids": [999]}, "no view 999"),
    ],
)
def test_bad_updates_are_refused_and_nothing_is_kept(database, kwargs, reason):
    with pytest.raises(InvalidUpdate, match=reason), database.transaction() as s:
        draft(s, **kwargs)
    with database.transaction() as s:
        assert s.scalars(select(Update)).all() == []


DRAFT = {
    "title": "Later buses",
    "you_said": "buses stop too early",
    "we_did": "From 3 March the 42 runs until 11pm.",
    "themes": ["roads_transport"],
}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"we_did": "x" * 300}, "must fit 2 SMS"),
        ({"themes": ["aliens"]}, "unknown themes"),
        ({"view_ids": [999]}, "no view 999"),
    ],
)
def test_a_bad_draft_is_refused_by_its_preview_as_by_drafting(database, kwargs, reason):
    with database.transaction() as s, pytest.raises(InvalidUpdate, match=reason):
        preview_draft(s, UpdateDraft(**{**DRAFT, **kwargs}))


def test_a_draft_is_previewed_without_writing_it(database):
    with database.transaction() as s:
        resident(s, "+447700900001")
        resident(s, "4242", channel="telegram")
        other = resident(s, "+447700900003", theme="housing")
        resident(s, "+447700900004", theme="housing")
        picked = s.scalars(select(View.id).where(View.resident_id == other.id)).one()
        wanted = UpdateDraft(**DRAFT, view_ids=[picked, picked])
        counts = preview_draft(s, wanted)
        assert counts == {"sms": 2, "telegram": 1, "total": 3}
        assert s.scalars(select(Update)).all() == [] and s.scalars(select(AuditEvent)).all() == []
        assert preview(s, draft_update(s, wanted, created_by="test")) == counts  # as written


def test_an_update_that_reaches_nobody_is_not_published(database):
    with database.transaction() as s:
        resident(s, "+447700900001")
        nowhere = UpdateDraft(**DRAFT, areas=["LS99"])
        assert preview_draft(s, nowhere)["total"] == 0
        update = draft(s, areas=["LS99"])
        with pytest.raises(NobodyToTell):
            publish_recorded(s, update.id, actor="officer")
        assert update.published_at is None
        assert s.scalars(select(OutboxMessage)).all() == []
        assert s.scalars(select(AuditEvent)).all() == []
        reached = draft(s)
        assert publish_recorded(s, reached.id, actor="officer") == 1
        assert publish_recorded(s, reached.id, actor="officer") is None  # already published


def test_curly_quotes_and_dashes_pasted_from_word_are_made_plain(database):
    with database.transaction() as s:
        update = draft(
            s, you_said="the \u201cnew\u201d bins \u2013 too small", we_did="Bigger bins\u2026 now"
        )
        assert update.you_said == 'the "new" bins - too small'
        assert update.we_did == "Bigger bins... now"
        assert "\u201c" not in update_message(update.you_said, update.we_did)
