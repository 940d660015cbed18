"""Send slots shared by every process sending as one identity."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest
from sqlalchemy import select

from bot.models import SendSlot
from bot.services.send_slots import reserve

SMS = "sms:+447700900000"


def take(database, count: int, interval: float, now: float, identity: str = SMS) -> float:
    with database.transaction() as s:
        return reserve(s, identity, count, interval, now)


def test_slots_are_spaced_by_count_times_interval(database):
    assert take(database, 5, 0.05, now=1000.0) == 1000.0
    assert take(database, 1, 0.05, now=1000.0) == pytest.approx(1000.25)
    assert take(database, 2, 0.05, now=1000.1) == pytest.approx(1000.30)
    assert take(database, 1, 0.05, now=1000.0) == pytest.approx(1000.40)
    with database.transaction() as s:
        assert s.get(SendSlot, SMS).next_at == pytest.approx(1000.45)


def test_a_slot_is_never_earlier_than_now(database):
    assert take(database, 3, 1.0, now=1000.0) == 1000.0  # next free: 1003
    assert take(database, 1, 1.0, now=2000.0) == 2000.0  # idle: no slots owed from the past
    assert take(database, 1, 1.0, now=1500.0) == 2001.0  # a clock behind: still the next free
    with database.transaction() as s:
        assert s.get(SendSlot, SMS).next_at == 2002.0


def test_identities_do_not_share_slots(database):
    assert take(database, 10, 1.0, now=1000.0) == 1000.0
    assert take(database, 1, 1.0, now=1000.0, identity="telegram:42") == 1000.0
    with database.transaction() as s:
        assert len(s.scalars(select(SendSlot)).all()) == 2


@pytest.mark.parametrize("existing", [False, True], ids=["first-use", "existing-row"])
def test_reservations_from_many_threads_never_overlap(database, existing):
    interval, threads, rounds = 0.01, 6, 15
    if existing:
        take(database, 1, interval, now=1000.0)
    taken: list[tuple[float, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads, timeout=20)

    def worker(n: int) -> None:
        start.wait()
        for r in range(rounds):
            count = 1 + (n + r) % 4
            try:
                first = take(database, count, interval, now=1000.0)
            except BaseException as exc:  # reported by the test
                errors.append(exc)
                return
            with lock:
                taken.append((first, count))

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert errors == []
    assert len(taken) == threads * rounds
    taken.sort()
    for (first, count), (after, _) in pairwise(taken):
        assert after >= first + count * interval - 1e-6, "two reservations overlap"
    slots = sum(count for _, count in taken) + existing
    with database.transaction() as s:
        # Every reservation counted: none was lost to another written over it.
        assert s.get(SendSlot, SMS).next_at == pytest.approx(1000.0 + slots * interval)
