"""Our workers' client for Rasa's private inbox channel (channels/inbox.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

TIMEOUT_S = 120.0  # a turn's actions each time out in ACTION_TIMEOUT_S; this is the backstop


class RasaUnavailable(Exception):
    """Rasa did not complete the turn (down, busy, or its action server failed): try later."""


class RasaClient:
    """Hands messages and triggers to Rasa; returns the bot's messages to send."""

    def __init__(self, base_url: str, token: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            # A connection per turn (cheap on a private network): Rasa's server (Sanic)
            # closes only idle connections when asked to stop, so kept-alive ones would
            # keep it serving long after SIGTERM.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"Authorization": f"Bearer {self.token}"},
                connector=aiohttp.TCPConnector(force_close=True),
            )
            self._loop = loop
        return self._session

    async def _post(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            async with self._http().post(f"{self.base_url}{path}", json=body) as reply:
                if reply.status != 200:
                    raise RasaUnavailable(f"HTTP {reply.status}")
                data = await reply.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from None
        messages = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(messages, list):
            raise RasaUnavailable("no messages in the answer")
        return messages

    async def handle(
        self,
        conversation_id: str,
        text: str,
        inbox_id: int,
        channel: str,
        retry: bool,
        skip: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Run one resident message; `retry` if it may have been handed over before.

        `skip`: custom actions known to have nothing to do in this turn (Rasa takes
        them as having answered nothing, without calling the action server).
        """
        return await self._post(
            "/webhooks/inbox/message",
            {
                "conversation_id": conversation_id,
                "text": text,
                "inbox_id": inbox_id,
                "channel": channel,
                "retry": retry,
                "skip_actions": list(skip),
            },
        )

    async def trigger(
        self, conversation_id: str, intent: str, entities: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Start a conversation with `intent` (a check-in); returns what to send."""
        return await self._post(
            "/webhooks/inbox/trigger",
            {"conversation_id": conversation_id, "intent": intent, "entities": entities},
        )

    async def close(self) -> None:
        """Close the connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
