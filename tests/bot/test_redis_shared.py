"""With REDIS_URL set, the send rate limit and Rasa's conversation locks live in Redis, shared
by every server; without it nothing of Redis is used. Needs REDIS_URL (CI sets it)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from bisect import bisect_left
from dataclasses import replace
from types import SimpleNamespace

import pytest

from bot.outbound import shared_limiter
from bot.slot_stores import KEEP_MS, RedisSlots
from tests.conftest import REDIS_URL

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")


@pytest.fixture
def prefix() -> str:
    """Keys of this test only (a shared Redis may serve other runs at the same time)."""
    return "test" + uuid.uuid4().hex[:12]


@pytest.fixture
def redis_client():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@needs_redis
def test_slots_follow_each_other_across_processes_and_expire(prefix, redis_client):
    one, two = RedisSlots(REDIS_URL, prefix), RedisSlots(REDIS_URL, prefix)  # two processes

    async def take() -> list[float]:
        try:
            now = time.time()
            first = await one.reserve("sms:+447700900000", 4, 0.5, now=now)
            second = await two.reserve("sms:+447700900000", 2, 0.5, now=now)
            other = await two.reserve("telegram:1", 1, 0.5, now=now)
            return [first - now, second - now, other - now]
        finally:
            await one.close()
            await two.close()

    first, second, other = asyncio.run(take())
    assert abs(first) < 1e-5 and abs(second - 2.0) < 1e-5 and abs(other) < 1e-5
    ttl = redis_client.pttl(f"{prefix}:send_slot:sms:+447700900000")
    assert 2000 < ttl <= 3000 + KEEP_MS  # gone a minute after its last slot


@needs_redis
def test_a_slot_that_went_by_is_not_handed_out(prefix):
    slots = RedisSlots(REDIS_URL, prefix)

    async def take() -> float:
        try:
            await slots.reserve("sms:x", 1, 1.0, now=1000.0)  # long ago
            return await slots.reserve("sms:x", 1, 1.0, now=2000.0)
        finally:
            await slots.close()

    assert asyncio.run(take()) == 2000.0


@needs_redis
def test_three_processes_keep_one_rate_through_redis(database, settings, prefix):
    """As test_timing's database test: three limiters, one identity, 20/s in all."""
    settings = replace(settings, sms_per_second=20.0, redis_url=REDIS_URL, redis_key_prefix=prefix)
    sender = SimpleNamespace(channel="sms", identity="sms:+447700900000")
    per_process, start = 20, threading.Barrier(3, timeout=20)
    sent: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def process(batch: int) -> None:
        limiter = shared_limiter(database, settings, sender, batch=batch)

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

    threads = [threading.Thread(target=process, args=(b,)) for b in (4, 1, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    sent.sort()
    assert len(sent) == 3 * per_process
    busiest = max(bisect_left(sent, t + 1.0) - i for i, t in enumerate(sent))
    assert busiest <= 20 + 2
    assert sent[-1] - sent[0] >= (3 * per_process - 3) / 20
    with database.transaction() as s:  # nothing of it in the database
        from sqlalchemy import select

        from bot.models import SendSlot

        assert s.scalars(select(SendSlot.identity)).all() == []


def test_without_redis_the_slots_stay_in_the_database(database, settings):
    sender = SimpleNamespace(channel="sms", identity="sms:+447700900001")
    limiter = shared_limiter(database, replace(settings, redis_url=""), sender)
    asyncio.run(limiter.wait())
    from sqlalchemy import select

    from bot.models import SendSlot

    with database.transaction() as s:
        assert s.scalars(select(SendSlot.identity)).all() == ["sms:+447700900001"]


# --- Rasa's lock store ----------------------------------------------------------------------


def lock_store_for(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """The lock store Rasa makes from endpoints.yml in `engage run`'s environment."""
    from rasa.core.lock_store import LockStore
    from rasa.core.utils import AvailableEndpoints

    from bot.runner import server_environment
    from bot.settings import PROJECT_ROOT, Settings, get_settings

    settings = Settings.from_env(env)
    full = server_environment(settings, env)
    saved = dict(os.environ)
    os.environ.update(full)
    get_settings.cache_clear()
    try:
        endpoints = AvailableEndpoints.read_endpoints(str(PROJECT_ROOT / "endpoints.yml"))
        return LockStore.create(endpoints.lock_store)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def test_one_machine_keeps_rasas_locks_in_memory():
    from rasa.core.lock_store import InMemoryLockStore

    assert isinstance(lock_store_for({}), InMemoryLockStore)


@needs_redis
def test_with_redis_rasa_locks_conversations_there_under_our_prefix(prefix, redis_client):
    from bot.lock_store import UrlRedisLockStore

    store = lock_store_for({"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": prefix})
    assert isinstance(store, UrlRedisLockStore)

    async def hold() -> bool:
        async with store.lock("conversation-1"):
            return bool(redis_client.exists(f"{prefix}:lock:conversation-1"))

    assert asyncio.run(hold())
    assert not redis_client.exists(f"{prefix}:lock:conversation-1")  # released


def test_redis_urls_become_rasas_lock_store_arguments():
    from bot.lock_store import redis_options

    assert redis_options("redis://127.0.0.1:6380/2") == {
        "host": "127.0.0.1", "port": 6380, "db": 2, "username": None, "password": None,
        "use_ssl": False,
    }  # fmt: skip
    tls = redis_options("rediss://engage:p%40ss@redis.internal")
    assert (tls["host"], tls["port"], tls["db"], tls["use_ssl"]) == (
        "redis.internal",
        6379,
        0,
        True,
    )
    assert (tls["username"], tls["password"]) == ("engage", "p@ss")
