"""Benchmark: the database work of one conversation turn in the gateway, in CPU time.

For a REST turn (no provider sends its replies), as the gateway and its inbox worker do
it one at a time: the webhook keeps the message in the inbox and the idle worker claims
it in the same transaction, with its update check (`accept_message` with
`InboxWorker._claim_accepted`); the worker records Rasa's answer, offers its options,
checks for an erasure and finishes the message (`InboxWorker._processed`). (Until
2026-12-02 the worker claimed each message in a transaction of its own, and before that
also claimed again after every turn, finding nothing.) No Rasa and no HTTP: what is
measured is what our code asks of SQLAlchemy and SQLite for each turn, which was most of
the gateway's CPU (docs/BENCHMARKS.md, issue 14). On a fresh SQLite file in a temporary
directory.

Usage: .venv/bin/python bench/inbox_db.py [--turns 1000] [--residents 50]
Last line: `inbox_db: cpu_ms_per_turn=<n> wall_ms_per_turn=<n> turns=<n>`
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from bot.db import Database  # noqa: E402
from bot.erasure import Eraser  # noqa: E402
from bot.inbox_worker import InboxWorker  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.outbound import Outbound  # noqa: E402
from bot.services.inbound import Incoming, accept_message  # noqa: E402
from bot.settings import Settings  # noqa: E402

TEXT = "the buses stop at 6 so i cant get home from my shift"
REPLIES = [
    {"text": "Thanks, noted under Roads & transport. Anything else? (Or reply DONE)"},
]
WARM_UP = 100


def _turn(database: Database, worker: InboxWorker, sender: str) -> None:
    """One REST turn's database work, each transaction as the gateway runs it."""
    accepted = accept_message(
        database, Incoming("rest", sender, TEXT), claim=worker._claim_accepted
    )
    claimed = accepted.claimed
    assert claimed is not None  # the resident's last message is done
    with database.transaction() as session:
        worker._processed(session, claimed, REPLIES)


def main(argv: list[str] | None = None) -> int:
    """Run the turns and print the CPU and wall time each took."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--residents", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-inbox-db-") as folder:
        url = f"sqlite:///{folder}/engage.db"
        upgrade(url)
        database = Database(url)
        settings = Settings.from_env(
            {"DATABASE_URL": url, "ENGAGE_VAR_DIR": folder, "RASA_API_TOKEN": "bench"}
        )
        outbound = Outbound(database, settings, {})
        worker = InboxWorker(
            database, None, outbound, eraser=Eraser.for_settings(settings, database)
        )  # type: ignore[arg-type]
        for i in range(WARM_UP):
            _turn(database, worker, f"resident-{i % args.residents}")
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(args.turns):
            _turn(database, worker, f"resident-{i % args.residents}")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        database.dispose()
    print(
        f"inbox_db: cpu_ms_per_turn={1000 * cpu / args.turns:.2f} "
        f"wall_ms_per_turn={1000 * wall / args.turns:.2f} turns={args.turns}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
