"""A fake Twilio and Telegram on 127.0.0.1: the subset of their HTTP APIs we use.

It records what it receives and can answer with the providers' real error shapes on
demand (Twilio 21610 / 30007, Telegram 429 with retry_after, 403). Point
`TWILIO_API_BASE_URL` and `TELEGRAM_API_BASE_URL` at `base_url`: the tests do (no test
reaches the internet), and so does `engage demo`, which prints each message it receives
(`listeners`) instead of sending it to a phone.

It serves with aiohttp on its own event loop in a background thread: HTTP/1.1 keep-alive
and no Nagle delay, as the real APIs, and light enough that the fan-out benchmark
measures the notifier rather than the fake.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

TWILIO_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>\w+)/Messages\.json$")
TELEGRAM_METHOD = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>\w+)$")
# Twilio takes ValidityPeriod as whole seconds from 1 to 36,000 (10 hours) and refuses any
# other value with error 21624 (twilio.com/docs/api/errors/21624).
TWILIO_MAX_VALIDITY_S = 36000
TWILIO_INVALID_VALIDITY = 21624


@dataclass
class Recorded:
    """One call the fake received."""

    provider: str
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)
    sid: str = ""  # the MessageSid the fake gave an accepted SMS
    accepted: bool = True  # False: answered with an error (the message went nowhere)


class FakeProviders:
    """Start with `start()`, stop with `stop()`; inspect `calls`."""

    def __init__(self) -> None:
        self.calls: list[Recorded] = []
        self.twilio_errors: dict[str, int] = {}  # recipient number -> Twilio error code
        self.twilio_statuses: dict[str, list[int]] = {}  # number -> HTTP 429/5xx, in turn
        self.delay_s = 0.0  # answer every send this much later (a slow provider)
        self.telegram_errors: dict[str, list[int]] = {}  # chat id -> 429/403/5xx, in turn
        self.telegram_retry_after = 1  # seconds a Telegram 429 asks to wait
        self.twilio_drop: set[str] = set()  # numbers whose sends lose the connection
        self.dropped: list[dict[str, Any]] = []  # sends whose connection was dropped
        # Called with each call once answered (from the fake's own thread): keep them quick.
        self.listeners: list[Callable[[Recorded], None]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        assert self._port, "start() the fake first"
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeProviders:
        """Listen on a free port, serving from a background thread; returns once listening."""
        ready = threading.Event()
        failed: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            runner = web.AppRunner(self._app(), access_log=None)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, "127.0.0.1", 0)
                loop.run_until_complete(site.start())
                self._port = runner.addresses[0][1]
            except BaseException as exc:  # reported by start()
                failed.append(exc)
                ready.set()
                return
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-providers", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        if failed or not self._port:
            raise RuntimeError(f"the fake providers did not start: {failed}")
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = None

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=1024**2)
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            params: dict[str, Any] = {**request.query, "_method": "GET"}
        elif "json" in request.content_type:
            params = json.loads(await request.text() or "{}")
        else:  # form-encoded or multipart
            params = dict(await request.post())
        if params.get("To") in self.twilio_drop and TWILIO_MESSAGES.match(request.path):
            # The network fails mid-request: the caller gets no answer at all.
            with self._lock:
                self.dropped.append(params)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        status, body = await self.answer(request.path, params)
        return web.json_response(body, status=status)

    # What the fake says -------------------------------------------------------------

    async def answer(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Route one request to Twilio or Telegram; sends wait `delay_s` first."""
        twilio = TWILIO_MESSAGES.match(path)
        if twilio and params.get("_method") == "GET":
            return self._twilio_list(params)
        if twilio:
            await self._slow()
            return self._twilio(params)
        telegram = TELEGRAM_METHOD.match(path)
        if telegram:
            if telegram["method"] == "sendMessage":
                await self._slow()
            return self._telegram(telegram["method"], params)
        return 404, {"error": "not found"}

    async def _slow(self) -> None:
        """A slow provider answers sends `delay_s` late."""
        if self.delay_s:
            await asyncio.sleep(self.delay_s)

    def _twilio(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Recorded("twilio", "Messages.create", params))
            code = self.twilio_errors.get(params.get("To", ""))
            if not _valid_validity(params.get("ValidityPeriod")):
                code = TWILIO_INVALID_VALIDITY
            statuses = self.twilio_statuses.get(params.get("To", "")) or []
            status = statuses.pop(0) if statuses else None
            sid = f"SM{next(self._ids):032d}"
            recorded = self.calls[-1]
            if not code and not status:
                recorded.sid = sid  # taken: it will be listed and counted
            else:
                recorded.accepted = False
        self._tell(recorded)
        if status:
            return status, {"code": 20429 if status == 429 else 20500, "status": status}
        if code:
            return 400, {
                "code": code,
                "message": "Attempt to send to unsubscribed recipient"
                if code == 21610
                else "Unknown error",
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": 400,
            }
        return 201, {
            "sid": sid,
            "status": "queued",
            "to": params.get("To"),
            "from": params.get("From"),
            "messaging_service_sid": params.get("MessagingServiceSid"),
            "body": params.get("Body"),
            "num_segments": "1",
            "error_code": None,
            "date_created": formatdate(usegmt=True),
        }

    def _twilio_list(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Messages.list filtered by To, newest first, as Twilio pages them."""
        with self._lock:
            sent = [
                c
                for c in self.calls
                if c.provider == "twilio" and c.params.get("To") == params.get("To")
            ]
        messages = [
            {
                "sid": c.sid,
                "to": c.params.get("To"),
                "body": c.params.get("Body"),
                "status": "sent",
                "date_created": formatdate(c.wall, usegmt=True),
            }
            for c in reversed(sent)
            if c.sid
        ]
        return 200, {
            "messages": messages[: int(params.get("PageSize", 50))],
            "next_page_uri": None,
            "page": 0,
            "page_size": int(params.get("PageSize", 50)),
        }

    def _telegram(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            recorded = Recorded("telegram", method, params)
            self.calls.append(recorded)
            chat = str(params.get("chat_id", ""))
            queued = self.telegram_errors.get(chat) or []
            error = queued.pop(0) if method == "sendMessage" and queued else None
            message_id = next(self._ids)
            recorded.accepted = error is None
        self._tell(recorded)
        if error == 429:
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.telegram_retry_after}",
                "parameters": {"retry_after": self.telegram_retry_after},
            }
        if error == 403:
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        if error is not None and error >= 500:
            return error, {"ok": False, "error_code": error, "description": "Internal Server Error"}
        if method == "getMe":
            result: Any = {
                "id": 1,
                "is_bot": True,
                "first_name": "Engage",
                "username": "engage_bot",
            }
        elif method == "sendMessage":
            result = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "text": params.get("text", ""),
            }
        else:  # answerCallbackQuery, setWebhook, deleteWebhook
            result = True
        return 200, {"ok": True, "result": result}

    def _tell(self, recorded: Recorded) -> None:
        """Pass a call to every listener; a failing listener never fails the call."""
        for listener in self.listeners:
            try:
                listener(recorded)
            except Exception:  # noqa: S112 - the fake answers whatever a listener does
                continue

    # Helpers for assertions --------------------------------------------------------

    def sms_to(self, number: str) -> list[str]:
        """Bodies of the SMS sent to `number`, in order."""
        return [
            c.params["Body"]
            for c in self.calls
            if c.provider == "twilio" and c.params.get("To") == number
        ]

    def accepted_sms(self) -> list[Recorded]:
        """The SMS the fake took (not those it refused with an error)."""
        with self._lock:
            return [c for c in self.calls if c.provider == "twilio" and c.sid]

    def telegram_to(self, chat_id: int | str) -> list[dict[str, Any]]:
        """sendMessage calls to a chat, in order."""
        return [
            c.params
            for c in self.calls
            if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(chat_id)
        ]


def _valid_validity(value: Any) -> bool:
    """Whether Twilio takes this ValidityPeriod (absent: its default, 36,000 s)."""
    if value is None:
        return True
    text = str(value)
    return text.isdigit() and 1 <= int(text) <= TWILIO_MAX_VALIDITY_S
