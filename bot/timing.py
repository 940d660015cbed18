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
    """At most `per_second` sends per second, spaced evenly (a simple leaky bucket)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next send slot; returns how many seconds to wait for it."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            self._next = at + self.interval
        return at - now

    def wait(self) -> None:
        """Block until the next send is allowed."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
