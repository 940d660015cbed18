"""Several Rasa servers behind one client: each turn goes to the next, and past a dead one.

`RASA_URL` may list several Rasa servers (comma-separated) or one load balancer in front
of them (deploy/nginx.conf). Either way our workers see one client with RasaClient's
methods. A turn that could not reach a server (connection refused, or Rasa's own 503:
the turn was not saved) is tried at once on the next server; any other failure is
returned to the caller as RasaUnavailable, as with one server (the inbox tries it again
later, the message id keeping it once). Every turn is timed for the operators' metrics
(bot/metrics.py).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from bot import metrics
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.settings import Settings

# What RasaUnavailable says when the turn never ran there: safe to hand to another server.
# Not a lost connection or a proxy's 502 after the request went out: that turn may have
# been saved, and only the inbox's retry (with the message id) may run it again.
NOT_RUN = frozenset({"ClientConnectorError", "HTTP 503"})


class RasaServers:
    """Hands turns to one of several Rasa servers (round robin), past those that are down."""

    def __init__(self, base_urls: tuple[str, ...] | list[str], token: str) -> None:
        if not base_urls:
            raise ValueError("at least one Rasa URL is needed")
        self.clients = [RasaClient(url, token) for url in base_urls]
        self._next = itertools.cycle(range(len(self.clients)))

    def _order(self) -> list[RasaClient]:
        start = next(self._next)
        return self.clients[start:] + self.clients[:start]

    async def _call(self, kind: str, method: str, *args: Any, **kwargs: Any) -> list[dict]:
        started = time.perf_counter()
        error: RasaUnavailable | None = None
        for client in self._order():
            try:
                messages = await getattr(client, method)(*args, **kwargs)
            except RasaUnavailable as exc:
                error = exc
                if str(exc) in NOT_RUN:
                    continue  # never ran there: the next server may take it
                break
            metrics.observe_turn(kind, "ok", time.perf_counter() - started)
            return messages
        metrics.observe_turn(kind, "failed", time.perf_counter() - started)
        assert error is not None
        raise error

    async def handle(
        self,
        conversation_id: str,
        text: str,
        inbox_id: int,
        channel: str,
        retry: bool,
        skip: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Run one resident message (RasaClient.handle) on the first server that takes it."""
        return await self._call(
            "message", "handle", conversation_id, text, inbox_id, channel, retry=retry, skip=skip
        )

    async def trigger(
        self, conversation_id: str, intent: str, entities: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Start a conversation with `intent` (RasaClient.trigger) on the first that takes it."""
        return await self._call("trigger", "trigger", conversation_id, intent, entities)

    async def close(self) -> None:
        """Close every server's connections."""
        for client in self.clients:
            await client.close()


def rasa_for(settings: Settings) -> RasaServers:
    """The Rasa servers of these settings (RASA_URL: one, or several comma-separated)."""
    return RasaServers(settings.rasa_urls or (settings.rasa_url,), settings.rasa_api_token)


Rasa = RasaClient | RasaServers  # one Rasa server, or several (RASA_URL)
