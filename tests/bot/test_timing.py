"""Quiet hours in the organisation's time zone, and the rate limiters (own and shared)."""

from __future__ import annotations

import asyncio
import threading
import time
from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from bot.db import Database
from bot.outbound import shared_limiter
from bot.timing import SharedRateLimiter, in_quiet_hours


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("now", "quiet"),
    [
        ("2026-01-15T20:59", False), ("2026-01-15T21:00", True), ("2026-01-15T23:30", True),
        ("2026-01-16T03:00", True), ("2026-01-16T07:59", True), ("2026-01-16T08:00", False),
        # British Summer Time: 20:30 UTC is 21:30 in London.
        ("2026-07-15T20:30", True), ("2026-07-15T07:30", False),
    ],
)  # fmt: skip
def test_quiet_hours_cross_midnight_in_local_time(now, quiet):
    assert in_quiet_hours(utc(now), "21:00-08:00", "Europe/London") is quiet


def test_quiet_hours_off_and_daytime_windows():
    assert not in_quiet_hours(utc("2026-01-16T03:00"), "off", "Europe/London")
    assert in_quiet_hours(utc("2026-01-16T13:00"), "12:00-14:00", "Europe/London")
    assert not in_quiet_hours(utc("2026-01-16T14:00"), "12:00-14:00", "Europe/London")


def test_shared_rate_limiter_takes_slots_in_batches_evenly_spaced():
    asked: list[int] = []
    store = {"next": 100.0}

    async def reserve(count: int) -> float:
        asked.append(count)
        start, store["next"] = store["next"], store["next"] + count * 0.1
        return start

    limiter = SharedRateLimiter(per_second=10, reserve=reserve, batch=3, clock=lambda: 0.0)

    async def take(n: int) -> list[float]:
        return [await limiter.slot() for _ in range(n)]

    assert asyncio.run(take(7)) == pytest.approx([100.0 + i / 10 for i in range(7)])
    assert asked == [3, 3, 3]  # one round trip per batch, not per send


def test_shared_rate_limiter_waits_for_its_slot():
    async def reserve(count: int) -> float:
        return time.time() + 0.2

    limiter = SharedRateLimiter(per_second=10, reserve=reserve)

    async def timed() -> float:
        started = time.monotonic()
        await limiter.wait()
        return time.monotonic() - started

    assert 0.15 <= asyncio.run(timed()) < 1.0


def test_three_processes_on_one_identity_keep_its_rate_together(database, settings):
    """Notifier, scheduler and replies, each with its own limiter and connections, 20/s."""
    settings = replace(settings, sms_per_second=20.0)
    sender = SimpleNamespace(channel="sms", identity="sms:+447700900000")
    per_process, start = 30, threading.Barrier(3, timeout=20)
    sent: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def process(batch: int) -> None:
        own = Database(database.url)  # as another process would have
        limiter = shared_limiter(own, settings, sender, batch=batch)

        async def send_all() -> None:
            for _ in range(per_process):
                await limiter.wait()
                with lock:
                    sent.append(time.time())

        try:
            start.wait()
            asyncio.run(send_all())
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=process, args=(b,)) for b in (2, 1, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(sent) == 3 * per_process
    sent.sort()
    busiest = max(bisect_left(sent, t + 1.0) - i for i, t in enumerate(sent))
    assert busiest <= 20 + 1  # one of scheduling jitter
    assert sent[-1] - sent[0] >= (3 * per_process - 21) / 20
