"""Quiet hours in the organisation's time zone, and the rate limiter, with a fake clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.timing import RateLimiter, in_quiet_hours


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


def test_rate_limiter_spaces_sends_evenly():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(per_second=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == pytest.approx([0.5, 0.5, 0.5, 0.5])
    now[0] += 10  # idle: no debt carried forward
    limiter.wait()
    assert len(slept) == 4


def test_rate_limiter_catches_up_a_short_delay_but_not_an_idle_spell():
    now = [100.0]
    limiter = RateLimiter(per_second=10, clock=lambda: now[0], catch_up=0.1)
    assert limiter.reserve() == 0  # slot 100.0
    assert limiter.reserve() == pytest.approx(0.1)  # slot 100.1
    now[0] = 100.28  # busy: 80 ms late for the slot at 100.2
    assert limiter.reserve() == 0  # slot 100.2, taken late
    assert limiter.reserve() == pytest.approx(0.02)  # slot 100.3, not 100.38: on schedule
    now[0] = 101.0  # 600 ms late: more than catch_up
    assert limiter.reserve() == 0  # the schedule starts again from now
    assert limiter.reserve() == pytest.approx(0.1)
