"""Quiet hours and per-channel send rates, with the clock handed in so tests can travel in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as clock_time
from zoneinfo import ZoneInfo


def in_quiet_hours(now: datetime, quiet_hours: str, timezone: str) -> bool:
    """True if `now` (aware) falls in "HH:MM-HH:MM" local time; "off" is never quiet."""
    if quiet_hours == "off":
        return False
    start_text, end_text = quiet_hours.split("-")
    start = clock_time.fromisoformat(start_text)
    end = clock_time.fromisoformat(end_text)
    local = now.astimezone(ZoneInfo(timezone)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # crosses midnight


class RateLimiter:
    """At most `per_second` sends per second, spaced evenly (a simple leaky bucket).

    With `catch_up`, a send that comes up to that many seconds late (the caller was busy)
    keeps its place in the schedule, so the sends after it come sooner and the average
    rate holds; later than that, the schedule starts again from now.
    """

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        catch_up: float = 0.0,
    ) -> None:
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._catch_up = catch_up
        self._next = float("-inf")
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next send slot; returns how many seconds to wait for it."""
        with self._lock:
            now = self._clock()
            slot = self._next if now - self._next <= self._catch_up else now
            self._next = slot + self.interval
        return max(0.0, slot - now)

    def wait(self) -> None:
        """Block until the next send is allowed."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
