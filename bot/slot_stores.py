"""Where the shared send slots are kept: the database, or Redis when REDIS_URL is set.

Every process sending as one identity (a number, a bot) takes its slots from one store,
so replies, check-ins and updates from every process on every server together keep to
the identity's rate (bot/timing.SharedRateLimiter). On one machine the store is the
database (bot/services/send_slots.py). With several servers Redis is there anyway for
Rasa's lock store, and a slot costs one round trip to it instead of a locked database
transaction: one atomic script per batch of slots, whose key expires once its slots have
gone by. Slot times are the callers' clocks (kept in step by NTP), as with the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.db import Database, run_in_transaction
from bot.services.send_slots import reserve
from bot.settings import Settings

Reserve = Callable[[int], Awaitable[float]]

# KEYS[1]: the identity's next free slot (microseconds since the epoch).
# ARGV: now (µs), the span of the slots taken (µs), how long to keep the key after (ms).
# Returns the first slot taken. Whole microseconds: Lua numbers are exact integers to 2^53.
RESERVE_SCRIPT = """
local now = tonumber(ARGV[1])
local start = tonumber(redis.call('GET', KEYS[1]) or '0')
if start < now then start = now end
local after = start + tonumber(ARGV[2])
redis.call('SET', KEYS[1], after, 'PX', math.floor((after - now) / 1000) + tonumber(ARGV[3]))
return start
"""
KEEP_MS = 60_000  # a key outlives its last slot by this much, then goes


class RedisSlots:
    """Send slots in Redis, one key per identity: `<prefix>:send_slot:<identity>`."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _connected(self) -> Any:
        """The script on a client of the running event loop (connected on first use)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from redis.asyncio import Redis

            self._client = Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
            )
            self._script = self._client.register_script(RESERVE_SCRIPT)
            self._loop = loop
        return self._script

    def key(self, identity: str) -> str:
        """The Redis key of `identity`'s next free slot."""
        return f"{self.prefix}:send_slot:{identity}"

    async def reserve(
        self, identity: str, count: int, interval: float, now: float | None = None
    ) -> float:
        """Take `count` slots `interval` seconds apart; when the first is (epoch seconds)."""
        now_us = round((time.time() if now is None else now) * 1_000_000)
        span_us = round(count * interval * 1_000_000)
        start = await self._connected()(keys=[self.key(identity)], args=[now_us, span_us, KEEP_MS])
        return int(start) / 1_000_000

    async def close(self) -> None:
        """Close the connections of the running loop's client."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = self._script = self._loop = None


_redis: dict[tuple[str, str], RedisSlots] = {}


def redis_slots(settings: Settings) -> RedisSlots:
    """This process's Redis slot store for REDIS_URL (one, shared by its limiters)."""
    key = (settings.redis_url, settings.redis_key_prefix)
    if key not in _redis:
        _redis[key] = RedisSlots(*key)
    return _redis[key]


def slot_reserver(
    database: Database, settings: Settings, identity: str, interval: float
) -> Reserve:
    """How `identity` takes `count` slots `interval` apart: from Redis if set, else the database."""
    if settings.redis_url:
        slots = redis_slots(settings)

        async def _from_redis(count: int) -> float:
            return await slots.reserve(identity, count, interval)

        return _from_redis

    async def _from_database(count: int) -> float:
        return await run_in_transaction(database, lambda s: reserve(s, identity, count, interval))

    return _from_database
