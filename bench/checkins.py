"""Benchmark: one scheduler pass's selection of who is due a check-in (`due_checkins`).

Seeds N consented SMS residents on a fresh database (SQLite under a temp dir, or a new
database on the PostgreSQL server of --database-url, dropped afterwards), a third of them
with two check-ins already sent, and times `due_checkins` twice: today (nobody due, the
usual pass) and 400 days on (everyone due). The scheduler runs this every minute.

Usage: .venv/bin/python bench/checkins.py [--residents N] [--database-url postgresql://...]
Last line: `checkins: residents=<n> none_due_s=<s> all_due_s=<s> queries=<n>`
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.models import Checkin  # noqa: E402
from bot.services.checkins import due_checkins  # noqa: E402
from tests.databases import drop_postgres_database, fresh_postgres_database  # noqa: E402
from tests.residents import seed_residents  # noqa: E402


def _timed(database: Database, now: datetime) -> tuple[int, float, int]:
    """(how many are due, seconds, SQL statements) for one `due_checkins` at `now`."""
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(database.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    with database.transaction() as s:
        due = len(due_checkins(s, now, jitter_minutes=240))
    elapsed = time.perf_counter() - started
    event.remove(database.engine, "before_cursor_execute", count)
    return due, elapsed, statements


def main() -> int:
    """Seed, time the two passes, print the summary lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server's URL")
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        url, pg_name = f"sqlite:///{Path(tmp) / 'checkins.db'}", None
        if args.database_url:
            url, pg_name = fresh_postgres_database(args.database_url, prefix="engage_bench")
        database = Database(url)
        try:
            upgrade(url)
            seed_residents(database, args.residents, "roads_transport")
            with database.transaction() as s:
                s.add_all(
                    Checkin(resident_id=i, period=f"p{days}", kind="checkin", channel="sms",
                            status="sent", sent_at=now - timedelta(days=days))
                    for i in range(1, args.residents + 1, 3)
                    for days in (10, 40)
                )  # fmt: skip
            none_due, none_s, _ = _timed(database, now)
            all_due, all_s, queries = _timed(database, now + timedelta(days=400))
        finally:
            database.dispose()
            if pg_name:
                drop_postgres_database(args.database_url, pg_name)
    print(
        f"{make_url(url).get_backend_name()}: {none_due} due today in {none_s:.2f} s; "
        f"{all_due} due in 400 days in {all_s:.2f} s"
    )
    print(
        f"checkins: residents={args.residents} none_due_s={none_s:.2f} all_due_s={all_s:.2f} "
        f"queries={queries}"
    )
    return 0 if none_due == 0 and all_due == args.residents else 1


if __name__ == "__main__":
    sys.exit(main())
