"""The private channel through which our inbox worker and scheduler talk to Rasa.

`POST /webhooks/inbox/message` runs one resident message, `POST /webhooks/inbox/trigger`
starts a conversation (a check-in); both answer the bot's messages as JSON and send
nothing themselves: the caller sends them through the channel's Sender. Both need the
Rasa API token (`Authorization: Bearer ...`, from RASA_API_TOKEN in the environment) and
are served on Rasa's private port; Rasa's own HTTP API is off (`engage run` starts Rasa
without `--enable-api`), so this channel is all there is. Rasa's server (Sanic) refuses a
body over MAX_BODY_BYTES (413) before reading it: ours are a few KiB.

A turn here is all or nothing. Rasa normally logs a failed custom action and carries on
without its events; here a failed action (the action server down, hanging past
ACTION_TIMEOUT_S, or answering 5xx) aborts the turn before the tracker is saved, and the
caller gets 503 and tries again later. A retried message whose turn did complete (its
answer was lost) is recognised by its message id and answered from the tracker, so a
message is processed once however often it is handed over.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import get_settings
from channels.rasa_tracker_store import speed_up_sql_tracker_store, tune_tracker_store_engine

logger = logging.getLogger(__name__)

CHANNEL = "inbox"
LOCK_POLL_S = 0.05
# Sanic's default is 100 MB. Our workers send a message of at most 2,000 characters (a few
# KiB as JSON): 256 KiB is ample headroom, and no stranger makes Rasa buffer more.
MAX_BODY_BYTES = 256 * 1024
KEEP_ALIVE_S = 2.0  # under Sanic's keep-alive timeout (5 s) on the action server


# Custom actions the caller knows have nothing to do in the turn being run (a turn runs
# in its own task, so each sees its own).
_SKIPPED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "skipped_actions", default=frozenset()
)


class ActionServerFailed(BaseException):
    """A custom action could not run: the turn must not be saved.

    A BaseException, so that it passes through Rasa's `except Exception` around actions.
    """


class _BadRequest(ValueError):
    """The caller sent something we cannot run."""


class StrictActionEndpoint(EndpointConfig):
    """The action server's endpoint, raising ActionServerFailed instead of being skipped.

    It also carries our token: the action server (actions/server.py) answers only us.
    """

    timeout_s: float = 10.0
    _session: aiohttp.ClientSession | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _ssl: ssl.SSLContext | None = None

    @classmethod
    def wrapping(
        cls, endpoint: EndpointConfig, timeout_s: float, token: str = ""
    ) -> StrictActionEndpoint:
        """A strict copy of `endpoint` (sending `token` as a Bearer token, if given)."""
        headers = dict(endpoint.headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        strict = cls(
            url=endpoint.url,
            params=endpoint.params,
            headers=headers,
            basic_auth=endpoint.basic_auth,
            token=endpoint.token,
            token_name=endpoint.token_name,
            cafile=endpoint.cafile,
            **endpoint.kwargs,
        )
        strict.timeout_s = timeout_s
        return strict

    def _client(self) -> aiohttp.ClientSession:
        """One HTTP session, with kept-alive connections, per event loop.

        Rasa's own `request` opens a session, and so a connection, for every action call.
        Idle connections are dropped before the action server (Sanic, 5 s) would close
        them, so that a call never goes out on a connection being closed.
        """
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            auth = aiohttp.BasicAuth(**self.basic_auth) if self.basic_auth else None
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_S),
            )
            self._loop = loop
        return self._session

    def _ssl_context(self) -> ssl.SSLContext | None:
        """The context that trusts `cafile`, made once (None: the system's defaults)."""
        if self.cafile and self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=self.cafile)
        return self._ssl

    async def close(self) -> None:
        """Close the kept-alive connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(
        self,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        **kwargs: Any,
    ) -> Any:
        """Call the action server; ActionServerFailed unless it answered (400 is a rejection).

        An action the turn was told to skip answers nothing without a call.
        """
        body = kwargs.get("json")
        if isinstance(body, dict) and body.get("next_action") in _SKIPPED.get():
            return {"events": [], "responses": []}  # a custom action with nothing to do
        # As Rasa's own request: the endpoint's headers (our token) win over the call's.
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kwargs.pop("headers", None) or {})
        headers.update(self.headers)
        url = concat_url(self.url, subpath)
        kwargs["timeout"] = aiohttp.ClientTimeout(total=self.timeout_s)  # not Rasa's 300 s
        try:
            async with self._client().request(
                method,
                url,
                headers=headers,
                params=self.combine_parameters(kwargs),
                ssl=self._ssl_context(),
                **kwargs,
            ) as answer:
                if answer.status >= 400:
                    detail = await answer.content.read()
                    raise ClientResponseError(answer.status, answer.reason or "", detail)
                try:
                    return await answer.json()
                except aiohttp.ContentTypeError:
                    return None
        except ClientResponseError as exc:
            if exc.status == 400:  # the action rejected itself: Rasa's own business
                raise
            raise ActionServerFailed(f"action server answered {exc.status}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ActionServerFailed(f"action server: {type(exc).__name__}") from None


@functools.lru_cache(maxsize=1)
def _action_result_validator() -> Any:
    """The validator of the action server's answers, built once (its schema is fixed)."""
    from jsonschema import validators

    schema = RemoteAction.action_response_format_spec()
    validator = validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


@functools.lru_cache(maxsize=1)
def _answer_checks() -> tuple[Any, dict[str, Any]]:
    """The answer's schema split up: its outer shape, and each event's own by its name.

    Rasa's event schema is a `oneOf` of one schema per event kind, each requiring its own
    `event` name (a distinct `const`); an event can match only the one its name picks, so
    checking it against that one alone accepts exactly what the `oneOf` does, without
    trying it against the other 22.
    """
    from jsonschema import validators

    schema = RemoteAction.action_response_format_spec()
    kinds = schema["properties"]["events"]["items"]
    common = {key: value for key, value in kinds.items() if key != "oneOf"}
    outer = {
        **schema,
        "properties": {**schema["properties"], "events": {"type": "array"}},
    }
    by_name = {}
    for kind in kinds["oneOf"]:
        name = kind["properties"]["event"]["const"]
        by_name[name] = {"allOf": [common, kind]}
    make = validators.validator_for(schema)
    return make(outer), {name: make(kind) for name, kind in by_name.items()}


def _surely_valid(result: Any) -> bool:
    """True when the action's answer is valid by the split-up schema (`_answer_checks`)."""
    outer, by_name = _answer_checks()
    if not outer.is_valid(result):
        return False
    for event in result.get("events") or []:
        name = event.get("event") if isinstance(event, dict) else None
        check = by_name.get(name) if isinstance(name, str) else None
        if check is None or not check.is_valid(event):
            return False
    return True


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's check of an action's answer, made cheap; the same answers accepted and refused.

    Rasa 3.6 calls `jsonschema.validate` on every custom-action call, which first checks
    the (constant) schema against its metaschema: 55 ms of a turn's CPU per action call,
    more than the rest of the turn; and then tries each event against all 23 event
    schemas, 1.5 ms of a turn (docs/BENCHMARKS.md). An answer the split-up check does not
    accept is checked by the whole schema, which raises Rasa's own error.
    """
    if not _surely_valid(result):
        _action_result_validator().validate(result)
    return True


def _strict(agent: Agent, timeout_s: float, token: str = "") -> None:
    """Make the agent's processor abort a turn whose action fails (once per loaded model)."""
    RemoteAction._validate_action_result = _validate_action_result
    processor = agent.processor
    endpoint = processor.action_endpoint if processor else None
    if endpoint is not None and not isinstance(endpoint, StrictActionEndpoint):
        processor.action_endpoint = StrictActionEndpoint.wrapping(endpoint, timeout_s, token)


def speed_up_event_lookup() -> None:
    """Make Rasa find an event's class by its type name in a dict.

    Rasa 3.6 walks every Event subclass (`all_subclasses`, with an `inspect.isabstract` for
    each) for every event it reads back: 50 us an event, 3 ms for a tracker of 60 events
    on every retrieve (docs/BENCHMARKS.md). A name not yet known rebuilds the table (a class
    imported since), and Rasa's own lookup still decides an unknown name (None, the
    default, or its error).
    """
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    original = Event.resolve_by_type
    if getattr(original, "tuned", False):
        return
    classes: dict[str, type[Event]] = {}

    def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
        found = classes.get(type_name)
        if found is None:
            # The first subclass with the name wins, as in Rasa's walk.
            for cls in reversed(all_subclasses(Event)):
                classes[cls.type_name] = cls
            found = classes.get(type_name)
        return found if found is not None else original(type_name, default)

    resolve_by_type.tuned = True  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)


def message_id(inbox_id: int) -> str:
    """The Rasa message id of an inbox message."""
    return f"inbox-{inbox_id}"


def _replies_after(events: list[Any], conversation_id: str, wanted: str) -> list[dict] | None:
    """The bot's messages that answered message `wanted`, if the tracker has it."""
    for index, event in enumerate(events):
        if isinstance(event, UserUttered) and event.message_id == wanted:
            replies = []
            for later in events[index + 1 :]:
                if isinstance(later, UserUttered):
                    break
                if isinstance(later, BotUttered):
                    extra = {k: v for k, v in (later.data or {}).items() if v is not None}
                    replies.append({"recipient_id": conversation_id, "text": later.text, **extra})
            return replies
    return None


class InboxInput(InputChannel):
    """Rasa's side of the inbox: messages and triggers from our own workers only."""

    @classmethod
    def name(cls) -> str:
        """URL prefix /webhooks/inbox/."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InboxInput:
        """Built from the settings: the Rasa API token and the action timeout."""
        settings = get_settings()
        return cls(settings.rasa_api_token, settings.action_timeout_s)

    def __init__(self, token: str, action_timeout_s: float) -> None:
        if not token:
            raise ValueError("RASA_API_TOKEN must be set: the inbox channel is token-protected")
        self.token = token
        self.action_timeout_s = action_timeout_s
        tune_tracker_store_engine()  # before Rasa makes its tracker store
        speed_up_sql_tracker_store()
        speed_up_event_lookup()

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The two routes (and the body limit of the server serving them)."""
        inbox = Blueprint("inbox_webhook", __name__)

        @inbox.listener("before_server_start")
        async def limit_bodies(app: Any, _: Any) -> None:
            # Read by Sanic for each new connection: set before the first is accepted.
            app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES

        @inbox.listener("after_server_stop")
        async def close_action_connections(app: Any, _: Any) -> None:
            agent = getattr(app.ctx, "agent", None)
            endpoint = agent.processor.action_endpoint if agent and agent.processor else None
            if isinstance(endpoint, StrictActionEndpoint):
                await endpoint.close()

        @inbox.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @inbox.route("/message", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            return await self._turn(request, self._message)

        @inbox.route("/trigger", methods=["POST"])
        async def trigger(request: Request) -> HTTPResponse:
            return await self._turn(request, self._trigger)

        return inbox

    async def _turn(
        self,
        request: Request,
        run: Callable[[Agent, dict[str, Any], str], Awaitable[list[dict]]],
    ) -> HTTPResponse:
        if not self._authorised(request):
            return response.json({"error": "unauthorised"}, status=403)
        body = request.json if request.body else None
        if not isinstance(body, dict):
            return response.json({"error": "conversation_id is required"}, status=400)
        conversation_id = body.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id:
            return response.json({"error": "conversation_id is required"}, status=400)
        agent: Agent | None = getattr(request.app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            return response.json({"error": "no model loaded"}, status=503)
        _strict(agent, self.action_timeout_s, self.token)
        try:
            async with agent.lock_store.lock(conversation_id, wait_time_in_seconds=LOCK_POLL_S):
                messages = await run(agent, body, conversation_id)
        except _BadRequest as exc:
            return response.json({"error": str(exc)}, status=400)
        except ActionServerFailed as exc:
            logger.warning("A turn was not completed (%s); it will be tried again.", exc)
            return response.json({"error": "action server unavailable"}, status=503)
        except Exception as exc:  # the tracker store, the lock store...: the caller retries
            logger.warning("A turn failed (%s); it will be tried again.", type(exc).__name__)
            return response.json({"error": type(exc).__name__}, status=503)
        return response.json({"messages": messages})

    async def _message(self, agent: Agent, body: dict[str, Any], conversation_id: str) -> list:
        inbox_id, text = body.get("inbox_id"), body.get("text")
        if not isinstance(inbox_id, int) or not isinstance(text, str):
            raise _BadRequest("inbox_id and text are required")
        wanted = message_id(inbox_id)
        if body.get("retry"):
            tracker = await agent.tracker_store.retrieve(conversation_id)
            if tracker is not None:
                done = _replies_after(list(tracker.events), conversation_id, wanted)
                if done is not None:
                    return done
        skip = body.get("skip_actions") or []
        if not isinstance(skip, list) or not all(isinstance(name, str) for name in skip):
            raise _BadRequest("skip_actions must be a list of action names")
        output = CollectingOutputChannel()
        skipping = _SKIPPED.set(frozenset(skip))
        try:
            await agent.processor.handle_message(
                UserMessage(
                    text,
                    output,
                    conversation_id,
                    input_channel=str(body.get("channel") or CHANNEL),
                    message_id=wanted,
                    metadata={"inbox_id": inbox_id},
                )
            )
        finally:
            _SKIPPED.reset(skipping)
        return output.messages

    async def _trigger(self, agent: Agent, body: dict[str, Any], conversation_id: str) -> list:
        intent, entities = body.get("intent"), body.get("entities") or {}
        if not isinstance(intent, str) or intent not in agent.domain.intents:
            raise _BadRequest("unknown intent")
        output = CollectingOutputChannel()
        tracker = await agent.processor.fetch_tracker_and_update_session(conversation_id, output)
        await agent.processor.trigger_external_user_uttered(intent, entities, tracker, output)
        return output.messages
