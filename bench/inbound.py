"""Benchmark: inbound messages through the signed webhooks while the back end is disturbed.

Starts the fake Twilio and Telegram (bot/fake_providers.py) and the gateway, Rasa and
the action server as separate processes (tests/e2e/services.py) on fresh databases
(SQLite files in a temporary directory, or with --postgres a new database on the server of
TEST_DATABASE_URL, dropped afterwards). Then R residents send N messages in all, spread
evenly over --duration-s: half the residents by SMS (Twilio's form, signed with
X-Twilio-Signature), half by Telegram (JSON with the secret-token header); each resident's
messages in order (the next only after the last was answered), residents in parallel on a
pool of sender threads. While the messages arrive the action server is frozen (SIGSTOP)
for --freeze-s from 2 s in; 3 s after it is thawed, Rasa is stopped (SIGTERM, and
SIGKILL if it has not exited in 30 s, as tests/e2e/services.py does) and started again.

When the inbox has emptied it counts, from the databases:
- acknowledged: the webhook answered 200;
- processed: inbox rows `done`;
- lost: acknowledged messages with no inbox row, a row that is not `done`, or no user
  event with the row's Rasa message id (`inbox-<id>`) in the tracker store (`events`);
- twice: inbox rows whose user event is in the tracker store more than once;
and the webhooks' response times (p50, p99, max over every POST).
Goals: 0 lost, 0 twice, p99 under 1 s.

Usage: .venv/bin/python bench/inbound.py [--messages 2000] [--residents 200]
       [--freeze-s 10] [--duration-s 75] [--senders 32] [--postgres] [--keep]
Last line: `inbound: acknowledged=<n> processed=<n> lost=<n> twice=<n> p99_ms=<n>`
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bot.fake_providers import FakeProviders  # noqa: E402
from bot.models import ChannelIdentity, InboxMessage, OutboundMessage  # noqa: E402
from bot.services.inbox import depth  # noqa: E402
from tests.databases import drop_postgres_database, fresh_postgres_database  # noqa: E402
from tests.e2e.conftest import MODEL, channel_env  # noqa: E402
from tests.e2e.services import Services  # noqa: E402
from tests.e2e.test_channels import (  # noqa: E402
    post_telegram_raw,
    post_twilio_raw,
    telegram_update,
)
from tests.residents import VIEWS  # noqa: E402

ACTION_TIMEOUT_S = 2
FREEZE_AT_S = 2.0  # when the action server is frozen, from the first message
RASA_GAP_S = 3.0  # from thawing the action server to stopping Rasa


@dataclass
class Message:
    """One message a resident sends, and what the webhook answered."""

    resident: int
    seq: int  # this resident's n-th message, from 0
    channel: str  # "sms" or "telegram"
    address: str  # the E.164 number or the chat id, as the inbox keeps it
    text: str
    due: float  # seconds after the start
    update_id: int = 0  # Telegram only
    status: int = 0  # the HTTP answer; 0: no answer (connection error or timeout)
    error: str = ""
    sent_at: float = 0.0  # seconds after the start when the POST began
    seconds: float = 0.0  # how long the POST took


@dataclass
class Disturbances:
    """When the action server was frozen and Rasa was down (seconds after the start)."""

    frozen: float | None = None
    thawed: float | None = None
    rasa_stopping: float | None = None
    rasa_stopped: float | None = None
    rasa_ready: float | None = None
    rasa_exit: int | None = None  # -9: it did not stop on SIGTERM and was killed
    error: BaseException | None = None
    log: list[str] = field(default_factory=list)


def plan(messages: int, residents: int, duration_s: float) -> list[Message]:
    """Every message, in the order it is due: round by round, every resident once a round."""
    per_resident = [messages // residents + (r < messages % residents) for r in range(residents)]
    order = [
        (r, j) for j in range(max(per_resident)) for r in range(residents) if j < per_resident[r]
    ]
    interval = duration_s / max(len(order), 1)
    first_update = 300_000_000 + int(time.time()) % 1_000_000 * 1000  # unique per run
    planned = []
    for k, (r, j) in enumerate(order):
        sms = r % 2 == 0
        planned.append(
            Message(
                resident=r,
                seq=j,
                channel="sms" if sms else "telegram",
                address=f"+4477{r:08d}" if sms else str(700_000_000 + r),
                text=f"{VIEWS[(r + j) % len(VIEWS)]} (resident {r}, message {j + 1})",
                due=k * interval,
                update_id=first_update + k,
            )
        )
    return planned


def post(services: Services, message: Message, t0: float) -> None:
    """Send one message through its webhook and record the answer (never raises)."""
    started = time.monotonic()
    message.sent_at = started - t0
    try:
        if message.channel == "sms":
            message.status, message.seconds = post_twilio_raw(
                services.url, message.address, message.text
            )
        else:
            update = telegram_update("telegram_message.json", int(message.address))
            update["update_id"] = message.update_id
            update["message"].update(message_id=message.seq + 1, text=message.text)
            update["message"]["from"]["id"] = int(message.address)
            message.status, message.seconds = post_telegram_raw(services.url, update)
    except Exception as exc:  # no answer: counted, not raised
        message.error = type(exc).__name__
        message.seconds = time.monotonic() - started


def send_all(
    services: Services, planned: list[Message], senders: int, t0: float, deadline: float
) -> None:
    """Post each message when due, each resident's after its previous one was answered."""
    last: dict[int, Future] = {}

    def task(message: Message, previous: Future | None) -> None:
        if previous is not None:
            previous.result(timeout=max(deadline - time.monotonic(), 0.1))
        post(services, message, t0)

    with ThreadPoolExecutor(senders, thread_name_prefix="resident") as pool:
        futures = []
        for message in planned:
            delay = t0 + message.due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() > deadline:
                raise RuntimeError("sending ran past its deadline")
            future = pool.submit(task, message, last.get(message.resident))
            last[message.resident] = future
            futures.append(future)
        _, not_done = wait_all(futures, timeout=max(deadline - time.monotonic(), 0.1))
        if not_done:
            for future in not_done:
                future.cancel()
            raise RuntimeError(f"{len(not_done)} sends did not finish by the deadline")
        for future in futures:
            future.result()  # a task that could not wait for its predecessor


def disturb(
    services: Services,
    args: argparse.Namespace,
    t0: float,
    record: Disturbances,
    stop: threading.Event,
) -> None:
    """Freeze the action server, thaw it, then stop and restart Rasa (in a thread)."""

    def now() -> float:
        return time.monotonic() - t0

    def say(line: str) -> None:
        record.log.append(line)
        print(f"  t={now():6.1f} s  {line}", flush=True)

    def until(at: float) -> bool:
        return not stop.wait(max(at - now(), 0))

    try:
        if not until(FREEZE_AT_S):
            return
        services.freeze("actions")
        record.frozen = now()
        say(f"action server frozen (SIGSTOP) for {args.freeze_s:g} s")
        stop.wait(args.freeze_s)
        services.thaw("actions")
        record.thawed = now()
        say("action server thawed (SIGCONT)")
        if not until(record.thawed + RASA_GAP_S):
            return
        record.rasa_stopping = now()
        services.stop("rasa")
        record.rasa_stopped = now()
        record.rasa_exit = services.processes["rasa"].returncode
        how = "killed: still serving after 30 s" if record.rasa_exit == -9 else "exited"
        say(
            f"Rasa stopped (SIGTERM, then {record.rasa_stopped - record.rasa_stopping:.1f} s "
            f"until it {how}; exit code {record.rasa_exit})"
        )
        if stop.is_set():
            return
        services.start_one("rasa")  # waits until it answers (at most 240 s)
        record.rasa_ready = now()
        say(f"Rasa back ({record.rasa_ready - record.rasa_stopped:.1f} s after it stopped)")
    except BaseException as exc:  # reported by the main thread
        record.error = exc
        say(f"disturbance failed: {exc!r}")


def settle(services: Services, timeout: float, t0: float) -> bool:
    """`Services.settle` in steps, showing the inbox depth; False if it did not empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if services.settle(min(15.0, max(deadline - time.monotonic(), 0.1))):
            return True
        with services.database.transaction() as s:
            open_now = depth(s).open
        print(f"  t={time.monotonic() - t0:6.1f} s  {open_now} messages still open", flush=True)
    return False


def message_id(inbox_id: int) -> str:
    """As channels.inbox.message_id (not imported: it loads Rasa and TensorFlow, 700 MB)."""
    return f"inbox-{inbox_id}"


def tracker_turns(tracker_url: str) -> tuple[Counter, dict[str, list[str]]]:
    """How often each message id is a user event, and each conversation's ids in order."""
    engine = create_engine(tracker_url, future=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT sender_id, data FROM events WHERE type_name = 'user' ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    counts: Counter = Counter()
    order: dict[str, list[str]] = defaultdict(list)
    for sender_id, data in rows:
        wanted = (json.loads(data) if data else {}).get("message_id")
        if wanted:
            counts[wanted] += 1
            order[sender_id].append(wanted)
    return counts, order


def count(services: Services, planned: list[Message], fake: FakeProviders) -> dict:
    """The outcome of the run, from the databases (see the module docstring)."""
    with services.database.transaction() as s:
        rows = s.execute(
            select(
                InboxMessage.id,
                InboxMessage.status,
                InboxMessage.channel,
                InboxMessage.text,
                InboxMessage.attempts,
                ChannelIdentity.address,
            ).join(
                ChannelIdentity,
                (ChannelIdentity.resident_id == InboxMessage.resident_id)
                & (ChannelIdentity.channel == InboxMessage.channel),
            )
        ).all()
        conversations = dict(
            s.execute(
                text(
                    "SELECT i.channel || ':' || i.address, r.conversation_id "
                    "FROM channel_identities i JOIN residents r ON r.id = i.resident_id"
                )
            ).all()
        )
        replies = dict(
            s.execute(
                select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)
            ).all()
        )
    turns, order = tracker_turns(services.settings.tracker_database_url)
    by_key: dict[tuple[str, str, str], list] = defaultdict(list)
    for row in rows:
        by_key[(row.channel, row.address, row.text)].append(row)

    lost: Counter = Counter()
    lost_examples: list[str] = []
    unacknowledged_kept = 0
    inbox_twice = 0
    for m in planned:
        found = by_key.get((m.channel, m.address, m.text), [])
        if m.status != 200:
            unacknowledged_kept += bool(found)
            continue
        inbox_twice += len(found) > 1
        reason = ""
        if not found:
            reason = "no inbox row"
        elif any(r.status != "done" for r in found):
            reason = "row not done"
        elif any(turns[message_id(r.id)] == 0 for r in found):
            reason = "no turn in the tracker"
        if reason:
            lost[reason] += 1
            if len(lost_examples) < 10:
                ids = ",".join(str(r.id) for r in found) or "-"
                lost_examples.append(f"{m.channel} {m.address} #{m.seq + 1} inbox {ids}: {reason}")

    twice_ids = [r.id for r in rows if turns[message_id(r.id)] > 1]
    # Each resident's turns should be in the order the messages were accepted (inbox ids).
    out_of_order = 0
    for m in {(m.channel, m.address) for m in planned}:
        ids = [int(i.removeprefix("inbox-")) for i in order.get(conversations.get(":".join(m)), [])]
        unique = list(dict.fromkeys(ids))
        out_of_order += unique != sorted(unique)
    fake_sends = Counter(
        c.provider for c in list(fake.calls) if c.method in ("Messages.create", "sendMessage")
    )
    return {
        "rows": len(rows),
        "statuses": Counter(r.status for r in rows),
        "attempts": Counter(r.attempts for r in rows),
        "lost": lost,
        "lost_examples": lost_examples,
        "twice_ids": twice_ids,
        "inbox_twice": inbox_twice,
        "unacknowledged_kept": unacknowledged_kept,
        "out_of_order": out_of_order,
        "replies": replies,
        "fake_sends": fake_sends,
        "tracker_turns": sum(turns.values()),
    }


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max in ms (zeros when empty)."""
    if not seconds:
        return 0.0, 0.0, 0.0
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


def window(planned: list[Message], start: float | None, end: float | None) -> list[Message]:
    """The messages whose POST began between `start` and `end`."""
    if start is None or end is None:
        return []
    return [m for m in planned if start <= m.sent_at <= end]


def environment(fake: FakeProviders, url: str, tracker: str) -> dict[str, str]:
    """The processes' settings: fake providers on 127.0.0.1, replies not throttled."""
    return {
        "DATABASE_URL": url,
        "TRACKER_DATABASE_URL": tracker,
        "ACTION_TIMEOUT_S": str(ACTION_TIMEOUT_S),
        "QUIET_HOURS": "off",
        "SMS_PER_SECOND": "1000",
        "TELEGRAM_PER_SECOND": "1000",
        "ORG_NAME": "Leeds Listens",
        "PRIVACY_URL": "https://leeds.example/p",
        **channel_env(fake.base_url),
    }


def report(
    args: argparse.Namespace,
    planned: list[Message],
    record: Disturbances,
    settled: bool,
    result: dict,
    elapsed: float,
    backend: str,
) -> bool:
    """Print the findings; True if the goals were met."""
    acknowledged = [m for m in planned if m.status == 200]
    others = Counter(m.status or m.error for m in planned if m.status != 200)
    p50, p99, worst = percentiles([m.seconds for m in planned])
    frozen = window(planned, record.frozen, record.thawed)
    rasa_stopping = window(planned, record.rasa_stopping, record.rasa_stopped)
    rasa_down = window(planned, record.rasa_stopped, record.rasa_ready)
    after = window(planned, record.rasa_ready, float("inf"))
    last_sent = max((m.sent_at for m in planned), default=0.0)
    lost = sum(result["lost"].values())
    twice = len(result["twice_ids"])
    print(
        f"{backend}: {len(planned)} messages from {args.residents} residents sent in "
        f"{last_sent:.1f} s ({len(planned) / max(last_sent, 0.001):.0f}/s), last at "
        f"t={last_sent:.1f} s; inbox settled: {settled} at t={elapsed:.1f} s"
    )
    print(
        f"disturbances: messages arrived {len(frozen)} while the action server was frozen "
        f"(t={record.frozen or 0:.1f}-{record.thawed or 0:.1f} s), {len(rasa_stopping)} while "
        f"Rasa was stopping (t={record.rasa_stopping or 0:.1f}-{record.rasa_stopped or 0:.1f} s,"
        f" exit code {record.rasa_exit}), {len(rasa_down)} while it was down or starting "
        f"(t={record.rasa_stopped or 0:.1f}-{record.rasa_ready or 0:.1f} s), {len(after)} "
        f"after it was back"
    )
    for name, during in (
        ("frozen", frozen),
        ("rasa stopping", rasa_stopping),
        ("rasa down", rasa_down),
    ):
        d50, d99, dmax = percentiles([m.seconds for m in during])
        print(f"webhook during {name}: p50={d50:.0f} ms p99={d99:.0f} ms max={dmax:.0f} ms")
    print(
        f"webhook: p50={p50:.0f} ms p99={p99:.0f} ms max={worst:.0f} ms; "
        f"not 200: {dict(others) or 0}"
    )
    print(
        f"inbox: {result['rows']} rows {dict(result['statuses'])}; attempts "
        f"{dict(sorted(result['attempts'].items()))}; failed rows: "
        f"{result['statuses'].get('failed', 0)}; unacknowledged but kept: "
        f"{result['unacknowledged_kept']}"
    )
    print(
        f"tracker: {result['tracker_turns']} user events with an inbox message id; "
        f"processed twice: {twice} {result['twice_ids'][:10]}; accepted twice into the "
        f"inbox: {result['inbox_twice']}; residents whose turns are out of order: "
        f"{result['out_of_order']}"
    )
    print(
        f"replies: outbound_messages {dict(result['replies'])}; the fake took "
        f"{dict(result['fake_sends'])}"
    )
    if lost:
        print(f"lost: {dict(result['lost'])}")
        for example in result["lost_examples"]:
            print(f"  {example}")
    if not frozen or not rasa_down:
        print("warning: no messages arrived during a disturbance; raise --duration-s")
    print(
        f"inbound: acknowledged={len(acknowledged)} "
        f"processed={result['statuses'].get('done', 0)} lost={lost} twice={twice} "
        f"p99_ms={p99:.0f}",
        flush=True,
    )
    return (
        settled
        and lost == 0
        and twice == 0
        and p99 < 1000
        and len(acknowledged) == len(planned)
        and bool(frozen and rasa_down)
    )


def run(args: argparse.Namespace, workdir: Path) -> bool:
    """Start everything, send, disturb, settle, count and report; True if the goals were met."""
    dropped = None
    if args.postgres:
        server = os.environ.get("TEST_DATABASE_URL", "").strip()
        if not server:
            raise SystemExit("--postgres needs TEST_DATABASE_URL (a PostgreSQL server URL)")
        url, dropped = fresh_postgres_database(server, prefix="engage_inbound")
        tracker = url
    else:
        url, tracker = f"sqlite:///{workdir / 'engage.db'}", f"sqlite:///{workdir / 'tracker.db'}"
    fake = FakeProviders().start()
    services: Services | None = None
    stop = threading.Event()
    disturber: threading.Thread | None = None
    try:
        services = Services(workdir, environment(fake, url, tracker))
        started = time.monotonic()
        services.start()
        print(f"processes up in {time.monotonic() - started:.1f} s; logs in {workdir}", flush=True)
        planned = plan(args.messages, args.residents, args.duration_s)
        record = Disturbances()
        t0 = time.monotonic()
        disturber = threading.Thread(
            target=disturb, args=(services, args, t0, record, stop), daemon=True
        )
        disturber.start()
        send_all(services, planned, args.senders, t0, deadline=t0 + args.duration_s + 120)
        print(f"  t={time.monotonic() - t0:6.1f} s  all {len(planned)} messages sent", flush=True)
        disturber.join(timeout=max(t0 + 600 - time.monotonic(), 1))
        if disturber.is_alive():
            raise RuntimeError("the disturbances did not finish in 600 s")
        if record.error is not None:
            raise RuntimeError("a disturbance failed") from record.error
        settled = settle(services, args.settle_s, t0)
        elapsed = time.monotonic() - t0
        result = count(services, planned, fake)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        return report(args, planned, record, settled, result, elapsed, backend)
    finally:
        stop.set()
        if disturber is not None:
            disturber.join(timeout=300)
        if services is not None:
            services.shutdown()
        fake.stop()
        if dropped:
            drop_postgres_database(os.environ["TEST_DATABASE_URL"].strip(), dropped)


def main() -> int:
    """Run the benchmark once and print the summary line; 1 if a goal was missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--residents", type=int, default=200, help="half SMS, half Telegram")
    parser.add_argument("--freeze-s", type=float, default=10.0, help="action server frozen")
    parser.add_argument(
        "--duration-s", type=float, default=75.0, help="the messages are spread over this"
    )
    parser.add_argument("--senders", type=int, default=32, help="sender threads")
    parser.add_argument("--settle-s", type=float, default=900.0, help="wait for the inbox")
    parser.add_argument(
        "--postgres", action="store_true", help="a new database on TEST_DATABASE_URL's server"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and SQLite files")
    args = parser.parse_args()
    if not MODEL.exists():
        raise SystemExit(f"no trained model at {MODEL}: run `make train` first")
    if args.duration_s <= FREEZE_AT_S + args.freeze_s + RASA_GAP_S:
        raise SystemExit("--duration-s must outlast the freeze and reach Rasa's restart")
    workdir = Path(tempfile.mkdtemp(prefix="engage-inbound-"))
    met = False
    try:
        met = run(args, workdir)
    finally:
        if met and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"logs and databases kept in {workdir}", file=sys.stderr)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
