"""What operators watch: Prometheus metrics of every long-running process, and their routes.

Each process serves `GET /metrics` (Prometheus text format) and `GET /healthz` on a port of
its own: the gateway, the console, Rasa and the action server on theirs, the scheduler
and the notifier on SCHEDULER_PORT and NOTIFIER_PORT (METRICS_HOST). The metrics hold
counts and times only, never a resident's words, number or id. A request that came
through the reverse proxy (it carries X-Forwarded-For) is refused /metrics: they are for
the scraper on the private network, not the internet. docs/DEPLOY.md lists the alerts.

Defining the metrics connects nothing; the database gauges (inbox, outbox) query the
database only when scraped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

TURN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

MESSAGES_IN = Counter(
    "engage_messages_in",
    "Residents' messages accepted into the inbox (repeats of a provider's delivery left out).",
    ["channel"],
)
MESSAGES_OUT = Counter(
    "engage_messages_out",
    "Messages a provider took, by channel and purpose (reply, checkin, update).",
    ["channel", "purpose"],
)
PROVIDER_ERRORS = Counter(
    "engage_provider_errors",
    "Sends a provider refused or failed, by channel and the provider's code.",
    ["channel", "code"],
)
TURN_SECONDS = Histogram(
    "engage_turn_seconds",
    "How long Rasa took over a turn (a resident's message or a check-in's trigger), "
    "actions included, as the worker saw it.",
    ["kind", "outcome"],
    buckets=TURN_BUCKETS,
)
OUTBOX = Counter(
    "engage_outbox_settled",
    "Update messages the notifier settled, by channel and outcome "
    "(sent, retrying, failed, expired).",
    ["channel", "outcome"],
)
CHECKINS_DUE = Gauge(
    "engage_checkins_due", "Residents due a check-in at the scheduler's last pass."
)
CHECKINS = Counter(
    "engage_checkins",
    "Check-ins settled by the scheduler, by outcome (sent, failed, expired, skipped).",
    ["outcome"],
)
ACTION_SECONDS = Histogram(
    "engage_action_seconds",
    "How long the action server took over one custom action.",
    ["action"],
    buckets=TURN_BUCKETS,
)
LAST_PASS = Gauge(
    "engage_last_pass_timestamp_seconds",
    "When this worker last finished a pass (scheduler) or a drain (notifier), Unix time.",
    ["worker"],
)

CHECKIN_OUTCOMES = ("sent", "failed", "expired", "skipped")
OUTBOX_OUTCOMES = ("sent", "retrying", "failed", "expired")


def start_counting(
    inbound: Iterable[str] = (), outbound: Iterable[str] = (), purposes: Iterable[str] = ()
) -> None:
    """Show these counters at 0 from the start, so that rates and alerts see them.

    `inbound`: channels messages arrive on; `outbound` x `purposes`: what is sent.
    """
    for channel in inbound:
        MESSAGES_IN.labels(channel)
    for channel in outbound:
        for purpose in purposes:
            MESSAGES_OUT.labels(channel, purpose)


def observe_turn(kind: str, outcome: str, seconds: float) -> None:
    """One turn handed to Rasa ("message" or "trigger"), "ok" or "failed", and its time."""
    TURN_SECONDS.labels(kind, outcome).observe(seconds)


def count_sent(channel: str, purpose: str, count: int = 1) -> None:
    """Messages a provider took."""
    if count:
        MESSAGES_OUT.labels(channel, purpose).inc(count)


def count_provider_error(channel: str, code: str | None) -> None:
    """A provider refused or failed a send (`code`: its error code, or what went wrong)."""
    PROVIDER_ERRORS.labels(channel, (code or "unknown")[:32]).inc()


def count_checkins(report: Any) -> None:
    """A scheduler pass's report (bot.scheduler.PassReport)."""
    if report.quiet:
        return
    CHECKINS_DUE.set(report.due)
    for outcome in CHECKIN_OUTCOMES:
        CHECKINS.labels(outcome).inc(getattr(report, outcome))


_last_pass: dict[str, float] = {}


def passed(worker: str) -> None:
    """`worker` finished a pass now."""
    _last_pass[worker] = time.time()
    LAST_PASS.labels(worker).set(_last_pass[worker])


def seconds_since_pass(worker: str) -> float | None:
    """Seconds since `worker` last finished a pass in this process, or None if it has not."""
    last = _last_pass.get(worker)
    return None if last is None else round(time.time() - last, 1)


# --- gauges read from the database when scraped ----------------------------------------


class DatabaseGauges(Collector):
    """The inbox's depth and oldest message, the outbox's queue: read at each scrape.

    `what` names the gauges: "inbox" (the gateway) and/or "outbox" (the notifier). With the
    database down they are left out and engage_database_up is 0.
    """

    def __init__(self, database: Any, what: tuple[str, ...]) -> None:
        self.database = database
        self.what = what

    def describe(self) -> list[Metric]:
        """Nothing up front: the registry must not scrape the database to register us."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The gauges, read in one short transaction."""
        up = GaugeMetricFamily(
            "engage_database_up", "1 if this process could read the database at this scrape."
        )
        try:
            with self.database.transaction() as session:
                found = [metric for name in self.what for metric in _READERS[name](session)]
        except Exception as exc:  # the database is down: say so, never fail the scrape
            logger.warning("Metrics could not read the database (%s).", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from found


def _inbox(session: Any) -> list[Metric]:
    from bot.services.inbox import depth

    found = depth(session)
    open_ = GaugeMetricFamily(
        "engage_inbox_depth", "Residents' messages accepted and not yet processed and answered."
    )
    open_.add_metric([], found.open)
    age = GaugeMetricFamily(
        "engage_inbox_oldest_age_seconds",
        "Age of the oldest message still in the inbox (0 when it is empty).",
    )
    oldest = found.oldest
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    age.add_metric([], (datetime.now(timezone.utc) - oldest).total_seconds() if oldest else 0.0)
    return [open_, age]


def _outbox(session: Any) -> list[Metric]:
    from sqlalchemy import func, select

    from bot.models import OutboxMessage, OutboxStatus

    rows = session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count(OutboxMessage.id))
        .where(OutboxMessage.status.in_((OutboxStatus.QUEUED, OutboxStatus.SENDING)))
        .group_by(OutboxMessage.channel, OutboxMessage.status)
    ).all()
    queued = GaugeMetricFamily(
        "engage_outbox_queued",
        "Update messages waiting to be sent (queued, or being sent), by channel and status.",
        labels=["channel", "status"],
    )
    for channel, status, count in rows:
        queued.add_metric([channel, status], count)
    return [queued]


_READERS: dict[str, Callable[[Any], list[Metric]]] = {"inbox": _inbox, "outbox": _outbox}
_watching: dict[str, DatabaseGauges] = {}


def watch_database(database: Any, *what: str) -> None:
    """Serve the database gauges `what` ("inbox", "outbox") from this process's /metrics."""
    key = ",".join(what)
    previous = _watching.pop(key, None)
    if previous is not None:
        REGISTRY.unregister(previous)
    gauges = DatabaseGauges(database, what)
    REGISTRY.register(gauges)
    _watching[key] = gauges


# --- serving ------------------------------------------------------------------------------


def exposition(accept: str | None) -> tuple[bytes, str]:
    """Every metric of this process, as the scraper asked (`accept`): (body, content type)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type


def proxied(headers: Any) -> bool:
    """True if the request came through the reverse proxy (which sets X-Forwarded-For)."""
    return bool(headers.get("X-Forwarded-For"))


async def aiohttp_metrics(request: Any) -> Any:
    """aiohttp handler of GET /metrics (the gateway, the scheduler, the notifier)."""
    from aiohttp import web

    if proxied(request.headers):
        raise web.HTTPNotFound()
    body, content_type = await asyncio.to_thread(exposition, request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})


def with_metrics(app: Callable) -> Callable:
    """A WSGI app (the console) that also answers GET /metrics."""

    def dispatch(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            return app(environ, start_response)
        if environ.get("HTTP_X_FORWARDED_FOR"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found."]
        body, content_type = exposition(environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    return dispatch


def sanic_routes(app: Any, ready: Callable[[Any], bool]) -> None:
    """GET /healthz and /metrics on a Sanic app (Rasa's, through bot.rasa_ops; the actions').

    `ready(request)` says whether the server can take work (/healthz answers 503 if not).
    """
    from sanic import response

    async def healthz(request: Any) -> Any:
        ok = ready(request)
        return response.json({"status": "ok" if ok else "starting"}, status=200 if ok else 503)

    async def metrics(request: Any) -> Any:
        if proxied(request.headers):
            return response.text("Not found.", status=404)
        body, content_type = await asyncio.to_thread(exposition, request.headers.get("Accept"))
        return response.raw(body, content_type=content_type)

    app.add_route(healthz, "/healthz", methods=["GET"], name="engage_healthz")
    app.add_route(metrics, "/metrics", methods=["GET"], name="engage_metrics")


def time_actions(app: Any) -> None:
    """Time every custom action the action server (a Sanic app) runs, by action name."""

    @app.on_request
    async def started(request: Any) -> None:
        request.ctx.engage_started = time.perf_counter()

    @app.on_response
    async def finished(request: Any, _: Any) -> None:
        began = getattr(request.ctx, "engage_started", None)
        if began is None or request.path != "/webhook":
            return
        try:
            name = str((request.json or {}).get("next_action") or "unknown")
        except Exception:  # an unreadable body was refused anyway
            name = "unknown"
        ACTION_SECONDS.labels(name[:64]).observe(time.perf_counter() - began)


class OpsServer:
    """/healthz and /metrics for a worker without an HTTP server (scheduler, notifier)."""

    def __init__(self, host: str, port: int, health: Callable[[], dict[str, Any]]) -> None:
        self.host, self.port, self.health = host, port, health
        self._runner: Any = None

    async def start(self) -> OpsServer:
        """Listen (on the running event loop)."""
        from aiohttp import web

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok", **self.health()})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", aiohttp_metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def start_or_warn(self, worker: str, port_setting: str) -> None:
        """Listen; a port that cannot be used costs only the metrics (said in the log)."""
        try:
            await self.start()
        except OSError as exc:
            logger.warning(
                "No /metrics for the %s: port %d unusable (%s); set %s.",
                worker,
                self.port,
                exc.strerror or type(exc).__name__,
                port_setting,
            )

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
