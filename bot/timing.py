"""Quiet hours and send rates (per process, or shared by processes), with a clock handed in."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
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


STALE_S = 0.1


class SharedRateLimiter:
    """At most `per_second` sends per second summed over every process sending as one identity.

    Slots are taken from a store shared by the processes (`reserve(count)` returns the
    epoch time of the first of `count` slots) `batch` at a time: one round trip per batch
    instead of one per send.
    """

    def __init__(
        self,
        per_second: float,
        reserve: Callable[[int], Awaitable[float]],
        batch: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = 1.0 / per_second
        self._reserve = reserve
        self._batch = max(1, batch)
        self._clock = clock
        self._slots: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def slot(self) -> float:
        """The time of this process's next slot (epoch seconds), reserving more if needed.

        A slot up to STALE_S late is still used (the caller was busy a moment: the average
        rate holds); older ones, of a batch that went by unused, are dropped, not burst.
        """
        async with self._lock:
            now = self._clock()
            while self._slots and self._slots[0] < now - max(self.interval, STALE_S):
                self._slots.popleft()
            if not self._slots:
                start = await self._reserve(self._batch)
                self._slots.extend(start + i * self.interval for i in range(self._batch))
            return self._slots.popleft()

    async def wait(self) -> None:
        """Wait until the next send is allowed."""
        delay = await self.slot() - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
