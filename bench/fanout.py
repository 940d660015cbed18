"""Benchmark: one "you said, we did" update fanned out to many SMS residents by the notifier.

For each rate limit it makes a fresh database (SQLite under a temp dir, or a new database
on the PostgreSQL server of --database-url, dropped afterwards), seeds N consented SMS
residents with a matching view, publishes one update, starts the fake Twilio in a
separate process (so it does not share the notifier's GIL) and drains the outbox in
process with the real Notifier and SmsSender. The achieved rate is taken from the
fake's own receive times: (accepted - 1) / (last - first).

Usage: .venv/bin/python bench/fanout.py [--residents N] [--limits 500,2000]
                                        [--database-url postgresql://...] [--delay-ms MS]
Last line of each run:
`fanout: limit=<n>/s achieved=<n>/s fraction=<x> duplicates=<n> lost=<n>`
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.models import ChannelIdentity, OutboxMessage  # noqa: E402
from bot.notifier import IN_FLIGHT, Notifier  # noqa: E402
from bot.outbound import senders_for  # noqa: E402
from bot.services.updates import draft_update, publish  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.databases import drop_postgres_database, fresh_postgres_database  # noqa: E402
from tests.residents import LATER_BUSES, numbers, seed_residents  # noqa: E402

THEME = "roads_transport"  # LATER_BUSES's


def _serve_fake(conn, delay_s: float) -> None:  # type: ignore[no-untyped-def]
    """The fake providers in their own process; answers "dump" and "stop" on `conn`."""
    sys.path.insert(0, str(ROOT))
    from bot.fake_providers import FakeProviders

    fake = FakeProviders()
    fake.delay_s = delay_s
    fake.start()
    conn.send(fake.base_url)
    while True:
        command = conn.recv()
        if command == "dump":
            conn.send([(c.params.get("To"), c.sid, c.at) for c in fake.accepted_sms()])
        else:
            break
    fake.stop()


class FakeProcess:
    """Starts the fake in a child process; `accepted()` fetches what it took."""

    def __init__(self, delay_s: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_fake, args=(child, delay_s), daemon=True)
        self._process.start()
        self.base_url: str = self._conn.recv()

    def accepted(self) -> list[tuple[str, str, float]]:
        self._conn.send("dump")
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)


def seed(database: Database, count: int) -> int:
    """N consented SMS residents with a view on THEME; publish one update on it. Its id."""
    seed_residents(database, count, THEME)
    with database.transaction() as s:
        update = draft_update(s, LATER_BUSES, created_by="bench")
        queued = publish(s, update.id)
        if queued != count:
            raise SystemExit(f"publish queued {queued}, expected {count}")
        return update.id


def _fresh_database(server_url: str | None, workdir: Path, run: int) -> tuple[str, str | None]:
    """A new empty database: (its URL, the PostgreSQL name to drop or None)."""
    if not server_url:
        return f"sqlite:///{workdir / f'fanout-{run}.db'}", None
    return fresh_postgres_database(server_url, prefix="engage_fanout")


def run_once(limit: float, args: argparse.Namespace, workdir: Path, run: int) -> dict:
    url, pg_name = _fresh_database(args.database_url, workdir, run)
    database = Database(url)
    fake: FakeProcess | None = None
    try:
        upgrade(url)
        t0 = time.perf_counter()
        seed(database, args.residents)
        seeded_s = time.perf_counter() - t0
        fake = FakeProcess(args.delay_ms / 1000)
        env = {
            "ENGAGE_VAR_DIR": str(workdir / "var"),
            "DATABASE_URL": url,
            "QUIET_HOURS": "off",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "bench-token",
            "TWILIO_FROM_NUMBER": "+447700900000",
            "TWILIO_API_BASE_URL": fake.base_url,
            "SMS_PER_SECOND": str(limit),
        }
        settings = Settings.from_env(env)
        senders = senders_for(settings, telegram_connections=IN_FLIGHT)
        started = time.perf_counter()
        report = asyncio.run(Notifier(database, settings, senders).drain())
        drain_s = time.perf_counter() - started
        accepted = fake.accepted()
        with database.transaction() as s:
            states = dict(
                s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
            sids = dict(
                s.execute(
                    select(ChannelIdentity.address, OutboxMessage.provider_id).join(
                        OutboxMessage, OutboxMessage.resident_id == ChannelIdentity.resident_id
                    )
                ).all()
            )
    finally:
        if fake is not None:
            fake.stop()
        database.dispose()
        if pg_name:
            drop_postgres_database(args.database_url, pg_name)
    per_number = Counter(to for to, _, _ in accepted)
    fake_sid = {to: sid for to, sid, _ in accepted}
    times = sorted(at for _, _, at in accepted)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    achieved = (len(times) - 1) / span if span > 0 else 0.0
    return {
        "limit": limit,
        "achieved": achieved,
        "fraction": achieved / limit,
        "duplicates": sum(1 for n in per_number.values() if n > 1),
        "lost": sum(1 for number in numbers(args.residents) if per_number[number] == 0),
        "accepted": len(accepted),
        "span": span,
        "drain": drain_s,
        "seed": seeded_s,
        "states": states,
        "sid_mismatch": sum(1 for number, sid in sids.items() if fake_sid.get(number) != sid),
        "report_sent": report.sent,
        "backend": make_url(url).get_backend_name(),
    }


def main() -> int:
    """Run the benchmark for each limit and print the summary lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--limits", default="500,2000", help="SMS_PER_SECOND values, in turn")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL URL: each run gets a new database on that server (dropped after)",
    )
    parser.add_argument("--delay-ms", type=float, default=0.0, help="the fake's answer delay")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for run, limit in enumerate(float(x) for x in args.limits.split(",")):
            r = run_once(limit, args, Path(tmp), run)
            all_sent = r["states"] == {"sent": args.residents}
            failed |= not all_sent or bool(r["duplicates"] or r["lost"] or r["sid_mismatch"])
            print(
                f"{r['backend']}: {r['accepted']} SMS accepted in {r['span']:.2f} s "
                f"(drain {r['drain']:.2f} s, seed+publish {r['seed']:.1f} s) at limit "
                f"{limit:g}/s; outbox {r['states']} (all sent: {all_sent}), provider ids "
                f"not matching the fake: {r['sid_mismatch']}"
            )
            print(
                f"fanout: limit={limit:g}/s achieved={r['achieved']:.0f}/s "
                f"fraction={r['fraction']:.3f} duplicates={r['duplicates']} lost={r['lost']}",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
