"""The one inbound path: de-duplication, STOP/START at once, choices, cleaning, races."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, select

from bot.models import ChannelIdentity, ConsentEvent, InboundMessage, InboxMessage, Resident
from bot.services.consent import opt_out
from bot.services.delivery import offer_choices
from bot.services.identities import resident_at
from bot.services.inbound import NON_TEXT, Accepted, Incoming, accept_message, text_for_rasa

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
PHONE = "+447700900123"


def sms(text: str, provider_id: str | None = None, address: str = PHONE) -> Incoming:
    return Incoming("sms", address, text, provider_id=provider_id)


def inbox_texts(database) -> list[str]:
    with database.transaction() as s:
        return list(s.scalars(select(InboxMessage.text).order_by(InboxMessage.id)))


def count(database, model) -> int:
    with database.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_repeated_provider_id_is_a_duplicate_on_its_channel_only(database):
    first = accept_message(database, sms("hi", "SM1"), T0)
    assert first.duplicate is False and first.inbox_id is not None
    assert first.conversation_id is not None
    again = accept_message(database, sms("hi", "SM1"), T0)
    assert again == Accepted(duplicate=True)
    other_channel = accept_message(database, Incoming("telegram", "4242", "hi", "SM1"), T0)
    assert other_channel.duplicate is False and other_channel.inbox_id is not None
    assert count(database, InboxMessage) == 2
    assert count(database, InboundMessage) == 2


def test_a_message_without_provider_id_is_never_a_duplicate(database):
    first = accept_message(database, Incoming("rest", "user-1", "hello"), T0)
    second = accept_message(database, Incoming("rest", "user-1", "hello"), T0)
    assert not first.duplicate and not second.duplicate
    assert first.inbox_id != second.inbox_id
    assert first.conversation_id == second.conversation_id
    assert inbox_texts(database) == ["hello", "hello"]
    assert count(database, InboundMessage) == 0


@pytest.mark.parametrize("text", ["STOP", "stop.", "  Stop "])
def test_stop_opts_out_at_once_with_a_consent_event(database, text):
    accepted = accept_message(database, sms(text, "SM1"), T0)
    assert accepted.inbox_id is not None
    with database.transaction() as s:
        resident = resident_at(s, "sms", PHONE)
        assert resident.opted_out_at is not None and resident.contact_ok is False
        events = s.scalars(select(ConsentEvent)).all()
        assert [(e.kind, e.channel, e.resident_id) for e in events] == [
            ("opted_out", "sms", resident.id)
        ]
        row = s.get(InboxMessage, accepted.inbox_id)
        assert (row.text, row.status) == ("/opt_out", "pending")


def test_start_opts_back_in(database):
    accept_message(database, sms("STOP", "SM1"), T0)
    accepted = accept_message(database, sms("start", "SM2"), T0)
    with database.transaction() as s:
        resident = resident_at(s, "sms", PHONE)
        assert resident.opted_out_at is None
        kinds = s.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
        assert kinds == ["opted_out", "opted_in"]
        assert s.get(InboxMessage, accepted.inbox_id).text == "/opt_in"


@pytest.mark.parametrize(
    ("typed", "given"),
    [("2", "/pick_b"), (" 1. ", "/pick_a"), ("3", "3"), ("0", "0"), ("two", "two")],
)
def test_a_typed_number_resolves_to_the_pending_choice(database, typed, given):
    accept_message(database, sms("hi"), T0)
    with database.transaction() as s:
        offer_choices(s, resident_at(s, "sms", PHONE).id, "sms", ["/pick_a", "/pick_b"])
    accepted = accept_message(database, sms(typed), T0)
    assert inbox_texts(database)[-1] == given
    assert accepted.inbox_id is not None


def test_a_number_without_an_open_question_stays_a_number(database):
    accept_message(database, sms("2"), T0)
    assert inbox_texts(database) == ["2"]


def test_typed_intents_lose_their_slash_and_postcodes_are_cut_to_the_district():
    assert text_for_rasa('/intent{"x":"y"}') == 'intent{"x":"y"}'
    assert text_for_rasa("  //greet ") == "greet"
    assert text_for_rasa("I live at LS6 3AB, by the park") == "I live at LS6, by the park"
    assert text_for_rasa("ls63ab") == "ls6"
    assert text_for_rasa("stop!") == "/opt_out"
    assert text_for_rasa("x" * 5000) == "x" * 2000


def test_what_is_kept_in_the_inbox_is_cleaned(database):
    accept_message(database, sms('/intent{"x":"y"}', "SM1"), T0)
    accept_message(database, sms("Bins not collected on LS6 3AB", "SM2"), T0)
    assert inbox_texts(database) == ['intent{"x":"y"}', "Bins not collected on LS6"]


def test_a_photo_payload_passes_and_empty_text_is_not_queued(database):
    photo = accept_message(database, Incoming("telegram", "4242", "", "u1", payload=NON_TEXT), T0)
    assert photo.inbox_id is not None
    empty = accept_message(database, Incoming("telegram", "4242", "   ", "u2"), T0)
    assert empty.inbox_id is None and not empty.duplicate
    assert empty.conversation_id == photo.conversation_id
    assert inbox_texts(database) == [NON_TEXT]


def test_telegram_start_greets_a_newcomer_and_resubscribes_after_stop(database):
    newcomer = accept_message(database, Incoming("telegram", "4242", "", "u1", start=True), T0)
    accept_message(database, Incoming("telegram", "4343", "", "u2"), T0)
    with database.transaction() as s:
        opt_out(s, resident_at(s, "telegram", "4343"), channel="telegram")
    back = accept_message(database, Incoming("telegram", "4343", "", "u3", start=True), T0)
    with database.transaction() as s:
        assert s.get(InboxMessage, newcomer.inbox_id).text == "/greet"
        assert s.get(InboxMessage, back.inbox_id).text == "/opt_in"
        assert resident_at(s, "telegram", "4343").opted_out_at is None


@contextmanager
def both_reach(database, statement: str) -> Iterator[None]:
    """Hold each thread at its first `statement` until both threads are there.

    So both have done their reads (nothing found) before either writes: the race is
    certain, not left to timing.
    """
    barrier = threading.Barrier(2, timeout=20)
    held: set[int] = set()

    def hold(conn, cursor, sql, params, context, executemany) -> None:
        me = threading.get_ident()
        if sql.lstrip().upper().startswith(statement) and me not in held:
            held.add(me)
            barrier.wait()

    event.listen(database.engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        event.remove(database.engine, "before_cursor_execute", hold)


def run_together(work: list[Callable[[], Accepted]]) -> list[Accepted | BaseException]:
    start = threading.Barrier(len(work), timeout=20)
    results: list[Accepted | BaseException] = [RuntimeError("not run")] * len(work)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work[i]()
        except BaseException as exc:  # reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_first_messages_from_one_new_address_at_once_give_one_resident(database):
    # On SQLite the first write (the provider id) takes the one write lock before the
    # address is looked up, so the second message finds the first one's resident; on
    # PostgreSQL both look it up, find nothing and create a resident each.
    sqlite = database.engine.dialect.name == "sqlite"
    with both_reach(
        database, "INSERT INTO INBOUND_MESSAGES" if sqlite else "INSERT INTO RESIDENTS"
    ):
        results = run_together(
            [
                lambda: accept_message(database, sms("hello", "SM1"), T0),
                lambda: accept_message(database, sms("anyone there?", "SM2"), T0),
            ]
        )
    assert all(isinstance(r, Accepted) for r in results), results
    assert {r.duplicate for r in results} == {False}
    assert len({r.conversation_id for r in results}) == 1
    assert sorted(inbox_texts(database)) == ["anyone there?", "hello"]
    assert count(database, Resident) == 1
    assert count(database, ChannelIdentity) == 1
    with database.transaction() as s:
        assert len(set(s.scalars(select(InboxMessage.resident_id)))) == 1


def test_two_first_messages_without_provider_ids_at_once_give_one_resident(database):
    with both_reach(database, "INSERT INTO RESIDENTS"):
        results = run_together(
            [lambda: accept_message(database, Incoming("rest", "u", "hi"), T0)] * 2
        )
    assert all(isinstance(r, Accepted) and r.inbox_id for r in results), results
    assert count(database, Resident) == 1
    assert count(database, InboxMessage) == 2


def test_one_provider_message_delivered_twice_at_once_is_kept_once(database):
    accept_message(database, sms("earlier", "SM0"), T0)  # a known resident
    with both_reach(database, "INSERT INTO INBOUND_MESSAGES"):
        results = run_together([lambda: accept_message(database, sms("hello", "SM1"), T0)] * 2)
    assert all(isinstance(r, Accepted) for r in results), results
    assert sorted(r.duplicate for r in results) == [False, True]
    assert inbox_texts(database) == ["earlier", "hello"]
    assert count(database, InboundMessage) == 2


def _claim(session, accepted: Accepted, incoming: Incoming, now: datetime):
    """The claim the inbox worker makes as it accepts (bot/inbox_worker.py)."""
    from datetime import timedelta

    from bot.services.inbox import claim_accepted

    return claim_accepted(
        session,
        accepted.inbox_id,
        accepted.resident_id,
        accepted.conversation_id,
        incoming.channel,
        accepted.text,
        now,
        timedelta(minutes=3),
    )


def test_a_message_is_claimed_as_it_is_accepted_only_with_no_other_of_its_resident_open(database):
    first = accept_message(database, Incoming("rest", "u", "first"), T0, claim=_claim)
    assert first.claimed is not None
    assert (first.claimed.inbox_id, first.claimed.text, first.claimed.attempts) == (
        first.inbox_id,
        "first",
        1,
    )
    behind = accept_message(database, Incoming("rest", "u", "second"), T0, claim=_claim)
    assert behind.inbox_id is not None and behind.claimed is None
    other = accept_message(database, Incoming("rest", "someone else", "hi"), T0, claim=_claim)
    assert other.claimed is not None


def test_two_messages_of_one_resident_accepted_at_once_are_not_both_claimed(database):
    # Both threads have looked the resident up before either goes on, and each waits (a
    # second) for the other before asking whether another of the resident's messages is
    # open. Without the lock on the resident's row, on PostgreSQL both would get there,
    # each would see no other (the other's not committed yet), and both would be claimed:
    # two turns at once. With it, the second waits at the lookup until the first commits.
    from tests.residents import add_resident

    with database.transaction() as s:
        add_resident(s, "rest", "u")
    asking = threading.Barrier(2, timeout=1)
    asked: set[int] = set()

    def meet(conn, cursor, sql, params, context, executemany) -> None:
        me = threading.get_ident()
        if sql.lstrip().upper().startswith("SELECT INBOX.ID") and me not in asked:
            asked.add(me)
            # The other is held at the lock (as it should be) when this times out.
            with contextlib.suppress(threading.BrokenBarrierError):
                asking.wait()

    event.listen(database.engine, "before_cursor_execute", meet)
    try:
        with both_reach(database, "SELECT CHANNEL_IDENTITIES"):
            results = run_together(
                [
                    lambda: accept_message(
                        database, Incoming("rest", "u", "one"), T0, claim=_claim
                    ),
                    lambda: accept_message(
                        database, Incoming("rest", "u", "two"), T0, claim=_claim
                    ),
                ]
            )
    finally:
        event.remove(database.engine, "before_cursor_execute", meet)
    assert all(isinstance(r, Accepted) and r.inbox_id for r in results), results
    claimed = [r for r in results if r.claimed is not None]
    assert len(claimed) == 1
    # The one claimed is the one kept first: the resident's messages go in order.
    assert claimed[0].inbox_id == min(r.inbox_id for r in results)


def test_an_accept_that_postgresql_breaks_a_deadlock_with_is_tried_again(database, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import bot.services.inbound as inbound

    class Deadlock(Exception):
        pgcode = inbound.DEADLOCK

    real = inbound.accept
    calls: list[int] = []

    def deadlocked_once(session, message, now):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE checkins ...", {}, Deadlock())
        return real(session, message, now)

    monkeypatch.setattr(inbound, "accept", deadlocked_once)
    accepted = accept_message(database, Incoming("rest", "u", "hello"), T0)
    assert accepted.inbox_id is not None and len(calls) == 2
    assert inbox_texts(database) == ["hello"]
