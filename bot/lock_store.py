"""Rasa's Redis lock store, configured from REDIS_URL (endpoints.yml names it when it is set).

With several Rasa servers, Rasa's documented set-up keeps each conversation's ticket lock
in Redis so two servers never run one conversation's turns at once. Rasa's own
`type: redis` takes host, port, db and password as separate strings (and cannot be left
out of endpoints.yml when Redis is not used); this is the same RedisLockStore, read from
the one REDIS_URL every process shares. Its keys are `<REDIS_KEY_PREFIX>:lock:<conversation
id>`. Rasa's TICKET_LOCK_LIFETIME (seconds, default 60) bounds how long a server that died
mid-turn keeps its conversation locked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from bot.settings import get_settings


def redis_options(url: str) -> dict[str, Any]:
    """RedisLockStore's arguments for a redis:// or rediss:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("REDIS_URL must start with redis:// or rediss://")
    path = parts.path.strip("/")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(path) if path else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "use_ssl": parts.scheme == "rediss",
    }


class UrlRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore on REDIS_URL, with our key prefix."""

    def __init__(self, endpoint_config: EndpointConfig | None = None) -> None:
        settings = get_settings()
        if not settings.redis_url:
            raise ValueError("REDIS_URL must be set for the Redis lock store")
        super().__init__(**redis_options(settings.redis_url), key_prefix=settings.redis_key_prefix)
