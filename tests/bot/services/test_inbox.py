"""The durable inbox: one message per resident at a time, in order, fenced, retried, drained."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import event, select

from bot.models import InboxMessage
from bot.services.inbound import Incoming, accept
from bot.services.inbox import (
    GIVE_UP,
    Claimed,
    Depth,
    backoff,
    claim_next,
    depth,
    mark_done,
    mark_processed,
    mark_retry,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)


def secs(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def receive(database, address: str, *texts: str, at: datetime = T0) -> list[int]:
    """Messages from `address`, accepted as a channel would; their inbox ids."""
    with database.transaction() as s:
        return [accept(s, Incoming("sms", address, text), at).inbox_id for text in texts]


def claim(database, now: datetime, limit: int = 10) -> list[Claimed]:
    with database.transaction() as s:
        return claim_next(s, now, limit, LEASE)


def done(database, item: Claimed, now: datetime) -> None:
    with database.transaction() as s:
        assert mark_processed(s, item, [{"text": f"re: {item.text}"}], now)
        mark_done(s, item)


def status(database, inbox_id: int) -> InboxMessage:
    with database.transaction() as s:
        return s.get(InboxMessage, inbox_id)


def test_only_a_residents_oldest_open_message_is_claimed_and_in_order(database):
    first, second, _ = receive(database, "+447700900001", "one", "two", "three")
    [item] = claim(database, secs(0))
    assert (item.inbox_id, item.text, item.status, item.attempts) == (first, "one", "pending", 1)
    assert item.channel == "sms" and item.replies == []
    # While #1 is held, nothing else of this resident can be claimed...
    assert claim(database, secs(LEASE.total_seconds() - 1)) == []
    # ... and when its lease runs out, #1 again (its worker died), never #2.
    [again] = claim(database, secs(LEASE.total_seconds() + 1))
    assert (again.inbox_id, again.attempts) == (first, 2)
    assert again.token != item.token
    done(database, again, secs(32))
    assert [c.inbox_id for c in claim(database, secs(33))] == [second]
    assert claim(database, secs(34)) == []


def test_each_message_is_handed_over_in_the_order_it_came(database):
    ids = receive(database, "+447700900001", "one", "two", "three")
    handed: list[int] = []
    for step in range(5):
        for item in claim(database, secs(step)):
            handed.append(item.inbox_id)
            done(database, item, secs(step))
    assert handed == ids
    assert {status(database, i).status for i in ids} == {"done"}


def test_different_residents_are_claimed_together_oldest_first(database):
    a1, a2 = receive(database, "+447700900001", "a1", "a2")
    b1, b2 = receive(database, "+447700900002", "b1", "b2")
    items = claim(database, secs(0))
    assert [i.inbox_id for i in items] == [a1, b1]
    assert len({i.conversation_id for i in items}) == 2
    for item in items:
        done(database, item, secs(1))
    assert [i.inbox_id for i in claim(database, secs(1), limit=1)] == [a2]
    assert [i.inbox_id for i in claim(database, secs(1))] == [b2]


def test_a_failed_attempt_waits_its_backoff_and_holds_back_the_residents_next(database):
    first, second = receive(database, "+447700900001", "one", "two")
    [item] = claim(database, secs(0))
    with database.transaction() as s:
        assert mark_retry(s, item, "rasa down", secs(1)) == "pending"
    row = status(database, first)
    assert row.next_attempt_at == secs(1) + backoff(1)
    assert (row.claim_token, row.claimed_until, row.error) == (None, None, "rasa down")
    assert backoff(1) < backoff(2) < backoff(3)
    assert claim(database, secs(1) + backoff(1) - timedelta(milliseconds=1)) == []
    [again] = claim(database, secs(1) + backoff(1))
    assert (again.inbox_id, again.attempts) == (first, 2)
    with database.transaction() as s:
        assert mark_retry(s, again, "rasa down", secs(5)) == "pending"
    assert status(database, first).next_attempt_at == secs(5) + backoff(2)
    assert claim(database, secs(5) + backoff(2) - timedelta(milliseconds=1)) == []
    assert status(database, second).attempts == 0


def test_after_give_up_the_message_fails_and_the_next_one_is_free(database):
    first, second = receive(database, "+447700900001", "one", "two")
    [item] = claim(database, secs(0))
    with database.transaction() as s:
        assert mark_retry(s, item, "rasa down", T0 + GIVE_UP - timedelta(seconds=1)) == "pending"
    later = T0 + GIVE_UP
    [item] = claim(database, later)
    with database.transaction() as s:
        assert mark_retry(s, item, "still down", later) == "failed"
    assert status(database, first).status == "failed"
    [nxt] = claim(database, later)
    assert nxt.inbox_id == second


def test_a_stale_claim_can_no_longer_write(database):
    [first] = receive(database, "+447700900001", "one")
    [stale] = claim(database, secs(0))
    [fresh] = claim(database, secs(LEASE.total_seconds() + 1))  # the first worker stalled
    with database.transaction() as s:
        assert mark_processed(s, stale, [{"text": "old"}], secs(40)) is False
        mark_done(s, stale)
        assert mark_retry(s, stale, "late", secs(40)) == "lost"
    row = status(database, first)
    assert (row.status, row.replies, row.claim_token) == ("pending", None, fresh.token)
    with database.transaction() as s:
        assert mark_processed(s, fresh, [{"text": "new"}], secs(41)) is True
        mark_done(s, fresh)
    assert status(database, first).status == "done"


def test_replies_survive_a_crash_after_processing(database):
    first, second = receive(database, "+447700900001", "one", "two")
    [item] = claim(database, secs(0))
    replies = [{"text": "Thanks!"}, {"text": "Pick one", "buttons": [{"payload": "/a"}]}]
    with database.transaction() as s:
        assert mark_processed(s, item, replies, secs(1)) is True
    # The worker dies before sending: no mark_done.
    assert claim(database, secs(LEASE.total_seconds() - 1)) == []
    [again] = claim(database, secs(LEASE.total_seconds() + 1))
    assert (again.inbox_id, again.status, again.replies) == (first, "replying", replies)
    with database.transaction() as s:
        assert mark_processed(s, again, [{"text": "twice"}], secs(32)) is False  # not again
        mark_done(s, again)
    row = status(database, first)
    assert (row.status, row.replies, row.claim_token) == ("done", None, None)
    assert [i.inbox_id for i in claim(database, secs(33))] == [second]


def test_two_workers_claiming_at_once_never_share_a_row_or_a_resident(database):
    for n in range(6):
        receive(database, f"+4477009000{n:02d}", "one", "two")
    # Both workers have chosen the same heads before either takes them.
    barrier = threading.Barrier(2, timeout=20)
    held: set[int] = set()

    def hold(conn, cursor, sql, params, context, executemany) -> None:
        if sql.lstrip().upper().startswith("UPDATE INBOX") and threading.get_ident() not in held:
            held.add(threading.get_ident())
            barrier.wait()

    claimed: list[list[Claimed]] = [[], []]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            claimed[i] = claim(database, secs(0))
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    event.listen(database.engine, "before_cursor_execute", hold)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(database.engine, "before_cursor_execute", hold)
    assert errors == []
    ids = [c.inbox_id for worker in claimed for c in worker]
    assert len(ids) == len(set(ids)) == 6
    assert len({c.conversation_id for worker in claimed for c in worker}) == 6
    with database.transaction() as s:
        tokens = s.scalars(select(InboxMessage.claim_token).where(InboxMessage.id.in_(ids)))
        assert set(tokens) <= {w[0].token for w in claimed if w}


def test_workers_draining_together_take_each_message_once_and_in_order(database):
    received: dict[str, list[int]] = {}
    for n in range(8):
        address = f"+4477009001{n:02d}"
        received[address] = receive(database, address, "a", "b", "c", "d")
    by_conversation: dict[str, list[int]] = defaultdict(list)
    holding: dict[str, int] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        idle = 0
        while idle < 20:
            items = claim(database, secs(0), limit=3)
            idle = idle + 1 if not items else 0
            with lock:
                for item in items:
                    if item.conversation_id in holding:
                        errors.append(f"two of {item.conversation_id} held at once")
                    holding[item.conversation_id] = item.inbox_id
                    by_conversation[item.conversation_id].append(item.inbox_id)
            for item in items:
                with lock:  # let go before the next can be claimed
                    del holding[item.conversation_id]
                done(database, item, secs(0))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(map(sorted, by_conversation.values())) == sorted(received.values())
    assert all(ids == sorted(ids) for ids in by_conversation.values())
    with database.transaction() as s:
        assert set(s.scalars(select(InboxMessage.status))) == {"done"}


def test_depth_counts_open_messages_and_gives_the_oldest(database):
    with database.transaction() as s:
        assert depth(s) == Depth(open=0, oldest=None)
    [first] = receive(database, "+447700900001", "one", at=secs(0))
    [second] = receive(database, "+447700900002", "two", at=secs(10))
    receive(database, "+447700900003", "three", at=secs(20))
    with database.transaction() as s:
        assert depth(s) == Depth(open=3, oldest=secs(0))
    items = {i.inbox_id: i for i in claim(database, secs(30))}
    done(database, items[first], secs(31))
    with database.transaction() as s:
        assert mark_processed(s, items[second], [], secs(31))  # replying: still open
        assert depth(s) == Depth(open=2, oldest=secs(10))
    with database.transaction() as s:
        s.get(InboxMessage, second).status = "failed"
    with database.transaction() as s:
        assert depth(s) == Depth(open=1, oldest=secs(20))


class _Later(Exception):
    """Something that fails after the row was added, in the same transaction."""


def test_a_row_added_once_is_rolled_back_with_its_transaction(database):
    """Even as the transaction's first write: SQLite would otherwise commit at the savepoint's
    release (a SAVEPOINT outside a transaction starts one, and releasing it commits)."""
    from bot.models import SafeguardingAlert
    from bot.services.inbox import add_once
    from bot.services.residents import get_or_create_resident

    with database.transaction() as s:
        resident_id = get_or_create_resident(s, "c-once", "sms").id
    try:
        with database.transaction() as s:
            s.get(SafeguardingAlert, 1)  # a read first: no write yet
            row = SafeguardingAlert(resident_id=resident_id, kind="abuse", text="x", channel="sms")
            assert add_once(s, row)[1]
            raise _Later
    except _Later:
        pass
    with database.transaction() as s:
        assert s.scalars(select(SafeguardingAlert)).all() == []
