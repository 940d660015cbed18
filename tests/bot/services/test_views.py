"""Storing views by theme, correcting themes, areas and summaries."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select

from bot.models import ChannelIdentity, Resident, View, utcnow
from bot.services.consent import opt_out, record_consent
from bot.services.inbound import Incoming, accept
from bot.services.residents import find_resident, get_or_create_resident
from bot.services.views import (
    AreaNoted,
    KeptView,
    NotAllowed,
    keep_view,
    note_area,
    set_area,
    set_view_theme,
    store_view,
    summarise_views,
    themes_of,
)
from tests.residents import add_resident


def test_a_view_is_stored_with_theme_confidence_channel_and_time(database):
    with database.transaction() as s:
        resident = add_resident(s, "rest", "conv-1")
        store_view(
            s, resident, text=" buses stop at 6 ", theme_key="roads_transport",
            confidence=0.93, channel="rest",
        )  # fmt: skip
    with database.transaction() as s:
        view = s.scalars(select(View)).one()
        assert view.text == "buses stop at 6"
        assert (view.theme_key, view.confidence, view.theme_source) == (
            "roads_transport", pytest.approx(0.93), "model",
        )  # fmt: skip
        assert view.channel == "rest" and view.conversation_id == "conv-1"
        assert view.created_at.utcoffset().total_seconds() == 0


def test_nothing_is_stored_without_consent(database):
    with database.transaction() as s:
        resident = get_or_create_resident(s, "conv-1", "rest")
        with pytest.raises(NotAllowed):
            store_view(s, resident, text="x", theme_key="housing", confidence=1, channel="rest")
        record_consent(s, resident, given=False, wording="w", channel="rest")
        with pytest.raises(NotAllowed):
            store_view(s, resident, text="x", theme_key="housing", confidence=1, channel="rest")
    with database.transaction() as s:
        assert s.scalars(select(View)).all() == []


def test_nothing_is_stored_after_opt_out(database):
    with database.transaction() as s:
        resident = add_resident(s, "rest", "conv-1")
        opt_out(s, resident, channel="rest")
        with pytest.raises(NotAllowed):
            store_view(s, resident, text="x", theme_key="housing", confidence=1, channel="rest")


def test_unknown_theme_or_empty_text_is_refused_and_nothing_is_written(database):
    with pytest.raises(ValueError), database.transaction() as s:
        resident = add_resident(s, "rest", "conv-1")
        store_view(s, resident, text="ok", theme_key="housing", confidence=1, channel="rest")
        store_view(s, resident, text="x", theme_key="aliens", confidence=1, channel="rest")
    with database.transaction() as s:
        # the whole transaction rolled back: no resident, no half-written view
        assert s.scalars(select(View)).all() == []
        assert s.scalars(select(Resident)).all() == []
        resident = add_resident(s, "rest", "conv-1")
        with pytest.raises(ValueError):
            store_view(s, resident, text="  ", theme_key="housing", confidence=1, channel="rest")


def test_the_resident_can_correct_only_their_own_views(database):
    with database.transaction() as s:
        alice, bob = add_resident(s, "rest", "alice"), add_resident(s, "rest", "bob")
        view = store_view(s, alice, text="t", theme_key="housing", confidence=0.4, channel="rest")
        assert set_view_theme(s, bob, view.id, "parks_green_spaces") is None
        assert set_view_theme(s, alice, view.id, "parks_green_spaces").theme_source == "resident"
        assert set_view_theme(s, alice, view.id, None).theme_key is None
        with pytest.raises(ValueError):
            set_view_theme(s, alice, view.id, "nonsense")


def test_area_is_kept_and_applied_to_views_without_one(database):
    with database.transaction() as s:
        resident = add_resident(s, "rest", "conv-1")
        store_view(s, resident, text="a", theme_key="housing", confidence=1, channel="rest")
        set_area(s, resident, "LS6")
        store_view(s, resident, text="b", theme_key="housing", confidence=1, channel="rest")
    with database.transaction() as s:
        assert [v.area for v in s.scalars(select(View))] == ["LS6", "LS6"]
        assert find_resident(s, "conv-1").area == "LS6"


def test_summary_counts_views_by_theme_most_first(database):
    with database.transaction() as s:
        resident = add_resident(s, "rest", "conv-1")
        for theme in ["housing", "roads_transport", "roads_transport", None]:
            store_view(s, resident, text="t", theme_key=theme, confidence=0.9, channel="rest")
        summary = summarise_views(s, resident)
    assert summary.total == 4
    assert summary.by_theme == (("roads_transport", 2), ("housing", 1), (None, 1))


def test_a_channel_address_belongs_to_one_resident(database):
    with database.transaction() as s:
        get_or_create_resident(s, "conv-1", "rest")
        get_or_create_resident(s, "conv-1", "rest")  # same conversation: same resident
    with database.transaction() as s:
        assert len(s.scalars(select(ChannelIdentity)).all()) == 1
    with pytest.raises(Exception), database.transaction() as s:  # noqa: B017 - driver-specific
        other = Resident()
        s.add(other)
        s.flush()
        s.add(ChannelIdentity(resident_id=other.id, channel="rest", address="conv-1"))
        s.flush()


def _inbox_message(database, conversation_id="conv-1") -> int:
    with database.transaction() as s:
        return accept(s, Incoming("rest", conversation_id, "buses stop at 6"), utcnow()).inbox_id


def _store_once(database, inbox_id: int | None) -> int:
    with database.transaction() as s:
        resident = find_resident(s, "conv-1")
        return store_view(s, resident, text="buses stop at 6", theme_key="roads_transport",
                          confidence=0.9, channel="rest", inbox_id=inbox_id).id  # fmt: skip


def test_a_view_from_one_message_is_stored_once(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
    inbox_id = _inbox_message(database)
    first = _store_once(database, inbox_id)
    assert _store_once(database, inbox_id) == first  # the turn run again after a failure
    with database.transaction() as s:
        assert [(v.id, v.inbox_id) for v in s.scalars(select(View))] == [(first, inbox_id)]
    other = _store_once(database, _inbox_message(database))  # another message: another view
    assert _store_once(database, None) not in (first, other)  # no message id: always stored
    with database.transaction() as s:
        assert len(s.scalars(select(View)).all()) == 3


def test_a_view_from_one_message_stored_twice_at_once_is_kept_once(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
    inbox_id = _inbox_message(database)
    barrier = threading.Barrier(2, timeout=20)
    held: set[int] = set()

    def hold(conn, cursor, sql, params, context, executemany) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO VIEWS") and (
            threading.get_ident() not in held
        ):
            held.add(threading.get_ident())
            barrier.wait()  # both looked for the view and found none

    results: list[int | BaseException] = []

    def store() -> None:
        try:
            results.append(_store_once(database, inbox_id))
        except BaseException as exc:  # reported by the test
            results.append(exc)

    event.listen(database.engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=store) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(database.engine, "before_cursor_execute", hold)
    assert len(results) == 2 and all(isinstance(r, int) for r in results), results
    assert results[0] == results[1]
    with database.transaction() as s:
        assert len(s.scalars(select(View)).all()) == 1


# Keyed by the conversation id, as the actions call them -----------------------------------


def _keep(s, conversation_id="conv-1", **extra) -> KeptView | None:
    return keep_view(s, conversation_id, text="buses stop at 6", theme_key="roads_transport",
                     confidence=0.9, channel="rest", **extra)  # fmt: skip


def test_a_view_is_kept_for_the_resident_of_the_conversation(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
        kept = _keep(s, also=[("housing", 0.6)])
        assert isinstance(kept, KeptView)
        view = s.get(View, kept.view_id)
        assert (view.text, view.conversation_id, view.channel) == ("buses stop at 6", "conv-1",
                                                                    "rest")  # fmt: skip
        assert themes_of(s, kept.view_id) == ["roads_transport", "housing"]


def test_a_view_from_a_stranger_or_without_consent_is_not_kept(database):
    with database.transaction() as s:
        assert _keep(s, "nobody") is None
        add_resident(s, "rest", "refused", consent=False)
        assert _keep(s, "refused") is None
        opt_out(s, add_resident(s, "rest", "left"), channel="rest")
        assert _keep(s, "left") is None
        assert s.scalars(select(View)).all() == []
        add_resident(s, "rest", "conv-1")
        with pytest.raises(ValueError):  # bad input is still an error, not "not allowed"
            keep_view(s, "conv-1", text=" ", theme_key=None, confidence=None, channel="rest")


def test_a_view_kept_from_one_message_is_kept_once(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
    inbox_id = _inbox_message(database)
    with database.transaction() as s:
        first = _keep(s, inbox_id=inbox_id)
    with database.transaction() as s:
        assert _keep(s, inbox_id=inbox_id) == first
        assert len(s.scalars(select(View)).all()) == 1


def test_the_area_is_noted_for_the_resident_of_the_conversation(database):
    with database.transaction() as s:
        resident = add_resident(s, "rest", "conv-1")
        store_view(s, resident, text="a", theme_key="housing", confidence=1, channel="rest")
        assert note_area(s, "conv-1", "LS6") == AreaNoted("LS6")
        assert note_area(s, "nobody", "LS6") is None
    with database.transaction() as s:
        assert find_resident(s, "conv-1").area == "LS6"
        assert [v.area for v in s.scalars(select(View))] == ["LS6"]
